package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/internal/brokertest"
)

// Produce/consume benchmarks against a real broker process on loopback, with
// a franz-go client in this process: 1 KiB records, one partition, linger
// 5 ms, no compression, page-cache durability (the default config). Besides
// MB/s they report the broker's CPU seconds per GB of record payload and,
// for consume, the share of fetched region bytes sent by sendfile. The broker
// and the client share the machine's cores.
//
//	go test ./e2e/ -run '^$' -bench . -benchtime 200000x

const benchRecordBytes = 1024

func BenchmarkProduce1KiB(b *testing.B) {
	for _, acks := range []struct {
		name string
		acks kgo.Acks
	}{{"acks=1", kgo.LeaderAck()}, {"acks=all", kgo.AllISRAcks()}} {
		b.Run(acks.name, func(b *testing.B) {
			br := brokertest.Start(b)
			createTopic(b, newClient(b, br.Addr()), "bench", 1)
			opts := []kgo.Opt{kgo.RequiredAcks(acks.acks)}
			if acks.acks != kgo.AllISRAcks() {
				opts = append(opts, kgo.DisableIdempotentWrite())
			}
			cl := newClient(b, br.Addr(), append(opts, benchProducerOpts()...)...)
			cpu := brokerCPUSeconds(b, br.PID())
			b.SetBytes(benchRecordBytes)
			b.ResetTimer()
			produceN(b, cl, b.N)
			b.StopTimer()
			reportCPU(b, br, cpu, b.N)
		})
	}
}

func BenchmarkConsume1KiB(b *testing.B) {
	br := brokertest.Start(b)
	createTopic(b, newClient(b, br.Addr()), "bench", 1)
	produceN(b, newClient(b, br.Addr(), benchProducerOpts()...), b.N)
	before := scrape(b, br.AdminAddr())
	cl := newClient(b, br.Addr(), kgo.ConsumeTopics("bench"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	cpu := brokerCPUSeconds(b, br.PID())
	b.SetBytes(benchRecordBytes)
	b.ResetTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for n := 0; n < b.N; {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			b.Fatalf("consumed %d of %d", n, b.N)
		}
		fetches.EachError(func(_ string, _ int32, err error) { b.Fatal(err) })
		n += fetches.NumRecords()
	}
	b.StopTimer()
	reportCPU(b, br, cpu, b.N)
	after := scrape(b, br.AdminAddr())
	sent := after["riffle_netio_sendfile_bytes_total"] - before["riffle_netio_sendfile_bytes_total"]
	copied := after["riffle_netio_copied_bytes_total"] - before["riffle_netio_copied_bytes_total"]
	if sent+copied > 0 {
		b.ReportMetric(100*sent/(sent+copied), "%sendfile")
	}
}

func benchProducerOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.DefaultProduceTopic("bench"),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(1 << 20),
	}
}

func produceN(b *testing.B, cl *kgo.Client, n int) {
	if err := produceBench(cl, n); err != nil {
		b.Fatal(err)
	}
}

// produceBench produces n records of benchRecordBytes and waits for their
// acknowledgements; the error is the first failure.
func produceBench(cl *kgo.Client, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	value := make([]byte, benchRecordBytes)
	failed := make(chan error, 1)
	for i := 0; i < n; i++ {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case failed <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	select {
	case err := <-failed:
		return err
	default:
		return nil
	}
}

// reportCPU reports the broker's CPU seconds per GB of record payload since
// cpuBefore.
func reportCPU(b *testing.B, br *brokertest.Broker, cpuBefore float64, records int) {
	cpu := brokerCPUSeconds(b, br.PID()) - cpuBefore
	b.ReportMetric(cpu/(float64(records)*benchRecordBytes/1e9), "broker-cpu-s/GB")
}

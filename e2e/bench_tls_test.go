package e2e

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTLSThroughput compares produce and fetch over TLS with plaintext in
// one run, on one broker (a PLAINTEXT and an SSL listener): MB/s of record
// payload and the broker's CPU seconds per GB. 1 KiB random values,
// acks=all (replication factor 1), no compression, franz-go's default
// linger and 1 MiB batches, fetch max 50 MiB, no fsync per batch.
// RIFFLE_LONG=1 runs it; it prints the figures and the load average.
func TestTLSThroughput(t *testing.T) {
	if os.Getenv("RIFFLE_LONG") == "" {
		t.Skip("RIFFLE_LONG=1 runs it")
	}
	const total = 512 << 20
	b, sslAddr, ca, _ := tlsBroker(t)
	tlsCfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	value := make([]byte, 1024)
	_, _ = rand.Read(value)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, round := range []struct {
		name string
		addr string
		opts []kgo.Opt
	}{
		{"plaintext", b.Addr(), nil},
		{"tls", sslAddr, []kgo.Opt{kgo.DialTLSConfig(tlsCfg)}},
	} {
		topic := "bench-" + round.name
		prod := newClient(t, round.addr, append(round.opts, kgo.DefaultProduceTopic(topic),
			kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))...)
		createTopic(t, prod, topic, 1)
		cpu0, start := brokerCPUSeconds(t, b.PID()), time.Now()
		for sent := 0; sent < total; sent += len(value) {
			prod.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
		if err := prod.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		produceSecs, produceCPU := time.Since(start).Seconds(), brokerCPUSeconds(t, b.PID())-cpu0

		cons := newClient(t, round.addr, append(round.opts, kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(50<<20))...)
		cpu0, start = brokerCPUSeconds(t, b.PID()), time.Now()
		for got := 0; got < total; {
			fs := cons.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) { got += len(r.Value) })
		}
		fetchSecs, fetchCPU := time.Since(start).Seconds(), brokerCPUSeconds(t, b.PID())-cpu0
		gb := float64(total) / 1e9
		t.Logf("%-9s produce %6.1f MB/s %5.2f broker-cpu-s/GB | fetch %6.1f MB/s %5.2f broker-cpu-s/GB",
			round.name, float64(total)/1e6/produceSecs, produceCPU/gb, float64(total)/1e6/fetchSecs, fetchCPU/gb)
	}
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("load average: %s", strings.TrimSpace(string(load)))
}

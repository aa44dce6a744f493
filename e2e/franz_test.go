package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
)

const roundTripRecords = 100_000

// testRecord is record i of a round trip: its key, value, headers and
// timestamp all derive from i, so the consumer can check each one.
func testRecord(topic string, i int, base time.Time) *kgo.Record {
	value := make([]byte, 64+i%200)
	for j := range value {
		value[j] = byte(i*31 + j)
	}
	return &kgo.Record{
		Topic:     topic,
		Key:       []byte(fmt.Sprintf("key-%07d", i)),
		Value:     value,
		Headers:   []kgo.RecordHeader{{Key: "seq", Value: binary.BigEndian.AppendUint64(nil, uint64(i))}, {Key: "empty"}},
		Timestamp: base.Add(time.Duration(i) * time.Millisecond),
	}
}

func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopic(t testing.TB, cl *kgo.Client, topic string, partitions int32) {
	t.Helper()
	code, err := requestCreateTopic(cl, topic, partitions)
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if code != 0 {
		t.Fatalf("create topic %s: error code %d", topic, code)
	}
}

// requestCreateTopic sends one CreateTopics (replication factor 1) and
// returns the topic's error code.
func requestCreateTopic(cl *kgo.Client, topic string, partitions int32) (int16, error) {
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 30_000
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, err
	}
	return resp.Topics[0].ErrorCode, nil
}

// TestFranzGoRoundTripEveryCodec produces 100,000 records to 8 partitions
// with acks=all and idempotence, once per codec, and consumes them back.
func TestFranzGoRoundTripEveryCodec(t *testing.T) {
	b := brokertest.Start(t)
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()},
		{"gzip", kgo.GzipCompression()},
		{"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()},
	}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := "roundtrip-" + c.name
			admin := newClient(t, b.Addr())
			createTopic(t, admin, topic, 8)
			base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
			produceAll(t, b.Addr(), topic, base, c.codec)
			consumeAndCheck(t, b.Addr(), topic, base)
		})
	}
}

func produceAll(t *testing.T, addr, topic string, base time.Time, codec kgo.CompressionCodec) {
	t.Helper()
	cl := newClient(t, addr,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	errs := make(chan error, 1)
	for i := 0; i < roundTripRecords; i++ {
		cl.Produce(ctx, testRecord(topic, i, base), func(r *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- fmt.Errorf("record %s: %w", r.Key, err):
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

func consumeAndCheck(t *testing.T, addr, topic string, base time.Time) {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	seen := make([]bool, roundTripRecords)
	nextOffset := map[int32]int64{}
	for count := 0; count < roundTripRecords; {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", count, roundTripRecords, err)
		}
		fetches.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset != nextOffset[r.Partition] {
				t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, nextOffset[r.Partition])
			}
			nextOffset[r.Partition]++
			var i int
			if _, err := fmt.Sscanf(string(r.Key), "key-%07d", &i); err != nil || i >= roundTripRecords {
				t.Fatalf("bad key %q", r.Key)
			}
			if seen[i] {
				t.Fatalf("record %d consumed twice", i)
			}
			seen[i] = true
			checkRecord(t, r, testRecord(topic, i, base))
			count++
		})
	}
}

func checkRecord(t *testing.T, got, want *kgo.Record) {
	t.Helper()
	if string(got.Value) != string(want.Value) {
		t.Fatalf("%s: value differs", want.Key)
	}
	if !got.Timestamp.Equal(want.Timestamp) {
		t.Fatalf("%s: timestamp %v, want %v", want.Key, got.Timestamp, want.Timestamp)
	}
	if len(got.Headers) != len(want.Headers) {
		t.Fatalf("%s: %d headers, want %d", want.Key, len(got.Headers), len(want.Headers))
	}
	for i, h := range want.Headers {
		if got.Headers[i].Key != h.Key || string(got.Headers[i].Value) != string(h.Value) {
			t.Fatalf("%s: header %d = %q:%x, want %q:%x", want.Key, i, got.Headers[i].Key, got.Headers[i].Value, h.Key, h.Value)
		}
	}
}

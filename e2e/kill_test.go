package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/internal/brokertest"
)

// ackedRecord is where the broker said a record was written.
type ackedRecord struct {
	partition int32
	offset    int64
	key       string
	value     string
}

// TestKillNineKeepsAcknowledgedRecords kills the broker with SIGKILL while a
// producer is running, restarts it on the same data directory, and checks
// that every acknowledged record is at the offset it was acknowledged at.
func TestKillNineKeepsAcknowledgedRecords(t *testing.T) {
	b := brokertest.Start(t)
	const topic = "kill-nine"
	createTopic(t, newClient(t, b.Addr()), topic, 4)

	producer, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(time.Millisecond), kgo.RecordRetries(2), kgo.RecordDeliveryTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		acked []ackedRecord
	)
	const killAfter = 20_000
	killed := make(chan struct{})
	var once sync.Once
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	go func() {
		base := time.Now()
		for i := 0; ctx.Err() == nil; i++ {
			select {
			case <-killed:
				return
			default:
			}
			r := testRecord(topic, i, base)
			producer.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil {
					return
				}
				mu.Lock()
				acked = append(acked, ackedRecord{r.Partition, r.Offset, string(r.Key), string(r.Value)})
				n := len(acked)
				mu.Unlock()
				if n >= killAfter {
					once.Do(func() { close(killed) })
				}
			})
		}
	}()
	select {
	case <-killed:
	case <-ctx.Done():
		t.Fatal("producer never reached the kill point")
	}
	b.Kill()
	producer.Close() // fails what is still in flight; those were never acknowledged

	b.Restart()
	mu.Lock()
	want := append([]ackedRecord(nil), acked...)
	mu.Unlock()
	got := consumeEverything(t, b.Addr(), topic)
	for _, a := range want {
		r, ok := got[[2]int64{int64(a.partition), a.offset}]
		if !ok {
			t.Fatalf("acknowledged record %s at %d/%d is missing after restart", a.key, a.partition, a.offset)
		}
		if string(r.Key) != a.key || string(r.Value) != a.value {
			t.Fatalf("offset %d/%d holds %s, acknowledged %s", a.partition, a.offset, r.Key, a.key)
		}
	}
	t.Logf("%d acknowledged records all present after kill -9 (%d records in the log)", len(want), len(got))
}

// consumeEverything reads every partition of topic from the start up to its
// high watermark at the time of the call.
func consumeEverything(t *testing.T, addr, topic string) map[[2]int64]*kgo.Record {
	t.Helper()
	ends := endOffsets(t, addr, topic)
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got := map[[2]int64]*kgo.Record{}
	remaining := 0
	for _, end := range ends {
		remaining += int(end)
	}
	for remaining > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d records not consumed: %v", remaining, ctx.Err())
		}
		fetches.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset < ends[r.Partition] {
				got[[2]int64{int64(r.Partition), r.Offset}] = r
				remaining--
			}
		})
	}
	return got
}

package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/kafkatest"
	"github.com/riffle/riffle/netio"
	"github.com/riffle/riffle/segment"
)

func onlyPartition(t *testing.T, resp *kmsg.FetchResponse) *kmsg.FetchResponseTopicPartition {
	t.Helper()
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("want one partition, got error %d, %+v", resp.ErrorCode, resp.Topics)
	}
	return &resp.Topics[0].Partitions[0]
}

func TestFetchReadsBatchesEveryVersion(t *testing.T) {
	s := newTopicStack(t, Config{}, 1)
	b0 := s.produce(t, 0, 3, 1000) // offsets 0-2
	b1 := s.produce(t, 0, 3, 2000) // 3-5
	b2 := s.produce(t, 0, 3, 3000) // 6-8
	binary.BigEndian.PutUint64(b1, 3)
	binary.BigEndian.PutUint64(b2, 6)
	for v := int16(4); v <= 16; v++ {
		// An offset inside a batch returns that whole batch.
		p := onlyPartition(t, roundTrip[*kmsg.FetchResponse](t, s.b, s.fetchReqAt(v, map[int32]int64{0: 4})))
		if p.ErrorCode != 0 || p.HighWatermark != 9 || p.LastStableOffset != 9 {
			t.Fatalf("v%d: error %d, HW %d, LSO %d", v, p.ErrorCode, p.HighWatermark, p.LastStableOffset)
		}
		if v >= 5 && p.LogStartOffset != 0 {
			t.Fatalf("v%d: log start %d", v, p.LogStartOffset)
		}
		if v >= 11 && p.PreferredReadReplica != -1 {
			t.Fatalf("v%d: preferred read replica %d", v, p.PreferredReadReplica)
		}
		if want := append(append([]byte{}, b1...), b2...); !bytes.Equal(p.RecordBatches, want) {
			t.Fatalf("v%d: records %d bytes, want batches 3-5 and 6-8 (%d bytes)", v, len(p.RecordBatches), len(want))
		}
		// At HW: empty, not null.
		p = onlyPartition(t, roundTrip[*kmsg.FetchResponse](t, s.b, s.fetchReqAt(v, map[int32]int64{0: 9})))
		if p.ErrorCode != 0 || p.RecordBatches == nil || len(p.RecordBatches) != 0 || p.HighWatermark != 9 {
			t.Fatalf("v%d at HW: error %d, records %v, HW %d", v, p.ErrorCode, p.RecordBatches, p.HighWatermark)
		}
		// Beyond the log end: out of range, with where the log is.
		p = onlyPartition(t, roundTrip[*kmsg.FetchResponse](t, s.b, s.fetchReqAt(v, map[int32]int64{0: 10})))
		if p.ErrorCode != kerr.OffsetOutOfRange.Code || p.HighWatermark != 9 || (v >= 5 && p.LogStartOffset != 0) {
			t.Fatalf("v%d beyond LEO: error %d, HW %d, log start %d", v, p.ErrorCode, p.HighWatermark, p.LogStartOffset)
		}
	}
	p := onlyPartition(t, roundTrip[*kmsg.FetchResponse](t, s.b, s.fetchReq(12, map[int32]int64{0: 0})))
	if !bytes.HasPrefix(p.RecordBatches, b0) {
		t.Fatal("fetch at 0 does not start with the first batch")
	}
}

func TestFetchErrorsPerPartition(t *testing.T) {
	s := newTopicStack(t, Config{}, 1)
	req := s.fetchReq(12, map[int32]int64{0: 0, 5: 0})
	other := kmsg.NewFetchRequestTopic()
	other.Topic = "missing"
	other.Partitions = []kmsg.FetchRequestTopicPartition{{Partition: 0, PartitionMaxBytes: 100}}
	req.Topics = append(req.Topics, other)
	resp := roundTrip[*kmsg.FetchResponse](t, s.b, req)
	want := map[string]int16{"events/0": 0, "events/5": kerr.UnknownTopicOrPartition.Code, "missing/0": kerr.UnknownTopicOrPartition.Code}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			key := rt.Topic + "/" + string(rune('0'+rp.Partition))
			if code, ok := want[key]; !ok || code != rp.ErrorCode {
				t.Errorf("%s: error %d, want %d", key, rp.ErrorCode, code)
			}
			if rp.ErrorCode != 0 && (rp.HighWatermark != -1 || rp.LogStartOffset != -1) {
				t.Errorf("%s: HW %d, log start %d on error", key, rp.HighWatermark, rp.LogStartOffset)
			}
			delete(want, key)
		}
	}
	if len(want) != 0 {
		t.Errorf("unanswered: %v", want)
	}

	s.produce(t, 0, 1, 1)
	replicaFetch := s.fetchReq(12, map[int32]int64{0: 0})
	replicaFetch.ReplicaID = 2
	if p := onlyPartition(t, roundTrip[*kmsg.FetchResponse](t, s.b, replicaFetch)); p.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("replica fetch: error %d", p.ErrorCode)
	}
	fenced := s.fetchReq(12, map[int32]int64{0: 0})
	fenced.Topics[0].Partitions[0].CurrentLeaderEpoch = s.partition(0).LeaderEpoch() + 1
	if p := onlyPartition(t, roundTrip[*kmsg.FetchResponse](t, s.b, fenced)); p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("future leader epoch: error %d", p.ErrorCode)
	}
}

func TestFetchResponseMaxBytes(t *testing.T) {
	s := newTopicStack(t, Config{}, 3)
	first := s.produce(t, 0, 50, 1)
	s.produce(t, 0, 50, 1)
	s.produce(t, 1, 1, 1)
	s.produce(t, 2, 1, 1)
	req := s.fetchReq(11, map[int32]int64{0: 0, 1: 0, 2: 0})
	req.MaxBytes = 10 // smaller than any batch: KIP-74 still returns one
	resp := roundTrip[*kmsg.FetchResponse](t, s.b, req)
	parts := resp.Topics[0].Partitions
	if len(parts) != 3 {
		t.Fatalf("%d partitions", len(parts))
	}
	if !bytes.Equal(parts[0].RecordBatches, first) {
		t.Fatalf("partition 0: %d bytes, want its first batch whole (%d)", len(parts[0].RecordBatches), len(first))
	}
	for _, p := range parts[1:] {
		if len(p.RecordBatches) != 0 || p.HighWatermark != 1 || p.ErrorCode != 0 {
			t.Fatalf("partition %d past the budget: %d bytes, HW %d, error %d", p.Partition, len(p.RecordBatches), p.HighWatermark, p.ErrorCode)
		}
	}
	// Partition max bytes caps each partition, but the first batch still comes.
	req = s.fetchReq(11, map[int32]int64{0: 0, 1: 0})
	req.Topics[0].Partitions[0].PartitionMaxBytes = int32(len(first) + 1)
	resp = roundTrip[*kmsg.FetchResponse](t, s.b, req)
	// (Kafka may cut the region inside the next batch; whole batches are fine.)
	if got := resp.Topics[0].Partitions; len(got[0].RecordBatches) < len(first) || len(got[0].RecordBatches) > len(first)+1 || len(got[1].RecordBatches) == 0 {
		t.Fatalf("partition max bytes: got %d and %d bytes", len(got[0].RecordBatches), len(got[1].RecordBatches))
	}
}

func TestFetchLongPollTimesOutEmpty(t *testing.T) {
	s := newTopicStack(t, Config{FetchWaitMsMax: 30_000}, 1)
	req := s.fetchReq(12, map[int32]int64{0: 0})
	req.MaxWaitMillis, req.MinBytes = 100, 1
	start := time.Now()
	p := onlyPartition(t, roundTrip[*kmsg.FetchResponse](t, s.b, req))
	if elapsed := time.Since(start); elapsed < 100*time.Millisecond {
		t.Fatalf("returned after %v, before max wait", elapsed)
	}
	if p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
		t.Fatalf("error %d, %d bytes", p.ErrorCode, len(p.RecordBatches))
	}
	// The broker's cap wins over the request's wait.
	s.b.cfg.FetchWaitMsMax = 0
	req.MaxWaitMillis = 60_000
	select {
	case out := <-fetchAsync(s.b, req):
		if out.err != nil {
			t.Fatal(out.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a fetch waited although the broker caps waits at 0")
	}
}

func TestFetchLongPollWakesOnAppend(t *testing.T) {
	s := newTopicStack(t, Config{FetchWaitMsMax: 60_000}, 2)
	s.produce(t, 0, 1, 1)
	req := s.fetchReq(12, map[int32]int64{0: 1, 1: 0})
	req.MaxWaitMillis, req.MinBytes = 60_000, 1
	got := fetchAsync(s.b, req)
	// Once the first read pass has looked up both partitions, an append is
	// seen either by the fetch's recheck or by its watch.
	deadline := time.Now().Add(10 * time.Second)
	for s.lookups.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("fetch never read")
		}
		time.Sleep(time.Millisecond)
	}
	batch := s.produce(t, 1, 2, 5)
	select {
	case out := <-got:
		if out.err != nil {
			t.Fatal(out.err)
		}
		resp := out.resp
		parts := resp.Topics[0].Partitions
		if len(parts) != 2 || !bytes.Equal(parts[1].RecordBatches, batch) || parts[1].HighWatermark != 2 {
			t.Fatalf("woken fetch answered %+v", parts)
		}
		if n := s.lookups.Load(); n != 4 && n != 6 {
			t.Fatalf("%d partition lookups, want the read before and after the watch, and one after the wake-up if it waited (4 or 6)", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fetch not woken by the append")
	}
}

func TestFetchLongPollEndsWithContext(t *testing.T) {
	s := newTopicStack(t, Config{FetchWaitMsMax: 60_000}, 1)
	req := s.fetchReq(12, map[int32]int64{0: 0})
	req.MaxWaitMillis, req.MinBytes = 60_000, 1
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if _, err := s.b.ServeFrame(ctx, &netio.Conn{}, kafkatest.Frame(req, 1)); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("a cancelled request kept waiting")
	}
}

type fetchOutcome struct {
	resp *kmsg.FetchResponse
	err  error
}

// fetchAsync serves a fetch on another goroutine.
func fetchAsync(b *Broker, req *kmsg.FetchRequest) <-chan fetchOutcome {
	got := make(chan fetchOutcome, 1)
	go func() {
		resp, err := exchange[*kmsg.FetchResponse](b, req)
		got <- fetchOutcome{resp, err}
	}()
	return got
}

// answered lists the partitions of a fetch response.
func answered(resp *kmsg.FetchResponse) []int32 {
	var out []int32
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			out = append(out, rp.Partition)
		}
	}
	return out
}

func TestFetchIncrementalSessionFlow(t *testing.T) {
	s := newTopicStack(t, Config{FetchSessionsMax: 10}, 2)
	s.produce(t, 0, 1, 1)
	full := s.fetchReq(12, map[int32]int64{0: 0, 1: 0})
	full.SessionEpoch = 0
	resp := roundTrip[*kmsg.FetchResponse](t, s.b, full)
	id := resp.SessionID
	if resp.ErrorCode != 0 || id == 0 || len(answered(resp)) != 2 {
		t.Fatalf("full fetch: error %d, session %d, partitions %v", resp.ErrorCode, id, answered(resp))
	}
	incremental := func(epoch int32, offsets map[int32]int64, forget ...int32) *kmsg.FetchResponse {
		req := s.fetchReq(12, offsets)
		req.SessionID, req.SessionEpoch = id, epoch
		if len(forget) > 0 {
			req.ForgottenTopics = []kmsg.FetchRequestForgottenTopic{{Topic: s.topic, Partitions: forget}}
		}
		return roundTrip[*kmsg.FetchResponse](t, s.b, req)
	}
	// Nothing changed since: no partition answered. The client moves
	// partition 0 to offset 1, past its records.
	if resp := incremental(1, map[int32]int64{0: 1}); resp.ErrorCode != 0 || resp.SessionID != id || len(answered(resp)) != 0 {
		t.Fatalf("epoch 1: error %d, session %d, partitions %v", resp.ErrorCode, resp.SessionID, answered(resp))
	}
	s.produce(t, 1, 1, 1)
	if resp := incremental(2, nil); len(answered(resp)) != 1 || answered(resp)[0] != 1 || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatalf("epoch 2: want partition 1 with records, got %v", answered(resp))
	}
	s.produce(t, 0, 1, 1)
	if resp := incremental(3, nil, 0); len(answered(resp)) != 1 || answered(resp)[0] != 1 {
		t.Fatalf("epoch 3, partition 0 forgotten: got %v", answered(resp))
	}
	if resp := incremental(3, nil); resp.ErrorCode != kerr.InvalidFetchSessionEpoch.Code || resp.SessionID != 0 || len(resp.Topics) != 0 {
		t.Fatalf("replayed epoch: error %d, session %d", resp.ErrorCode, resp.SessionID)
	}
	// Epoch -1 closes the session with a sessionless full fetch.
	if resp := incremental(-1, map[int32]int64{0: 0}); resp.ErrorCode != 0 || resp.SessionID != 0 || len(answered(resp)) != 1 {
		t.Fatalf("close: error %d, session %d, partitions %v", resp.ErrorCode, resp.SessionID, answered(resp))
	}
	if resp := incremental(4, nil); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("closed session: error %d", resp.ErrorCode)
	}
}

func TestFetchLongPollWaitsForMinBytes(t *testing.T) {
	s := newTopicStack(t, Config{FetchWaitMsMax: 60_000}, 1)
	small := s.produce(t, 0, 1, 1)
	req := s.fetchReq(12, map[int32]int64{0: 0})
	req.MaxWaitMillis, req.MinBytes = 60_000, int32(len(small)+1)
	got := fetchAsync(s.b, req)
	deadline := time.Now().Add(10 * time.Second)
	for s.lookups.Load() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("fetch never read")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-got:
		t.Fatal("answered with fewer than min bytes before max wait")
	default:
	}
	more := s.produce(t, 0, 1, 1)
	select {
	case out := <-got:
		if out.err != nil {
			t.Fatal(out.err)
		}
		resp := out.resp
		p := onlyPartition(t, resp)
		if len(p.RecordBatches) != len(small)+len(more) || p.HighWatermark != 2 {
			t.Fatalf("%d bytes, HW %d", len(p.RecordBatches), p.HighWatermark)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fetch not answered once min bytes were there")
	}
}

// BenchmarkFetchServeFrame measures one consumer fetch of ~120 KiB from one
// partition through ServeFrame (decode, read, encode; no socket).
func BenchmarkFetchServeFrame(b *testing.B) {
	s := newTopicStack(b, Config{}, 1)
	for range 100 {
		s.produce(b, 0, 100, 1) // ~1.2 KiB batches
	}
	frame := kafkatest.Frame(s.fetchReq(12, map[int32]int64{0: 0}), 1)
	b.ReportAllocs()
	for b.Loop() {
		pieces, err := s.b.ServeFrame(context.Background(), &netio.Conn{}, frame)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range pieces {
			releasePiece(p)
		}
	}
}

// TestFetchConsumersFollowAppends runs consumers with incremental sessions
// and long polls against a producer: each must see every batch of every
// partition exactly once, in order.
func TestFetchConsumersFollowAppends(t *testing.T) {
	const batches, consumers = 100, 3
	s := newTopicStack(t, Config{FetchWaitMsMax: 60_000, FetchSessionsMax: 10}, 2)
	errs := make(chan error, consumers)
	for range consumers {
		go func() { errs <- consume(s, batches) }()
	}
	for i := range batches {
		s.produce(t, int32(i%2), 1+i%3, int64(i))
	}
	for range consumers {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("consumers did not catch up")
		}
	}
}

// consume fetches both partitions from offset 0 until it has seen
// batches/2 batches of each, checking that they follow each other.
func consume(s *brokerStack, batches int) error {
	next := map[int32]int64{0: 0, 1: 0}
	seen := map[int32]int{}
	id, epoch := int32(0), int32(0)
	for seen[0] < batches/2 || seen[1] < batches/2 {
		req := s.fetchReq(12, next)
		req.SessionID, req.SessionEpoch = id, epoch
		req.MaxWaitMillis, req.MinBytes = 10_000, 1
		resp, err := exchange[*kmsg.FetchResponse](s.b, req)
		if err != nil {
			return err
		}
		if resp.ErrorCode != 0 {
			return fmt.Errorf("session %d epoch %d: error %d", id, epoch, resp.ErrorCode)
		}
		id, epoch = resp.SessionID, nextSessionEpoch(epoch)
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				for rec := rp.RecordBatches; len(rec) > 0; {
					h, err := segment.ParseBatchHeader(rec)
					if err != nil {
						return err
					}
					if h.BaseOffset != next[rp.Partition] {
						return fmt.Errorf("partition %d: batch at %d, want %d", rp.Partition, h.BaseOffset, next[rp.Partition])
					}
					next[rp.Partition] = h.LastOffset() + 1
					seen[rp.Partition]++
					rec = rec[h.Size():]
				}
			}
		}
	}
	return nil
}

// TestFetchLongPollUnderSteadyAppends follows a partition that is appended to
// without pause, each fetch at the high watermark with a long max wait: every
// fetch must come back as soon as records arrive. An append landing between
// a fetch's Watch and its recheck once hung the fetch for good.
func TestFetchLongPollUnderSteadyAppends(t *testing.T) {
	s := newTopicStack(t, Config{FetchWaitMsMax: 60_000}, 1)
	stop := make(chan struct{})
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		for {
			select {
			case <-stop:
				return
			default:
				s.produce(t, 0, 1, 1)
				// Paced so that fetches at the high watermark find
				// nothing new and wait for the next append.
				time.Sleep(20 * time.Microsecond)
			}
		}
	}()
	defer func() { close(stop); <-appended }()
	offset := int64(0)
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		req := s.fetchReq(12, map[int32]int64{0: offset})
		req.MaxWaitMillis, req.MinBytes = 60_000, 1
		select {
		case out := <-fetchAsync(s.b, req):
			if out.err != nil {
				t.Fatal(out.err)
			}
			p := onlyPartition(t, out.resp)
			if p.ErrorCode != 0 {
				t.Fatalf("fetch at %d: error %d", offset, p.ErrorCode)
			}
			offset = p.HighWatermark
		case <-time.After(10 * time.Second):
			t.Fatalf("fetch at offset %d hung while records kept arriving", offset)
		}
	}
}

package kafka

import (
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/segment"
)

// withSelector serves the stack's requests with replica_selector set.
func (s *replStack) withSelector(selector string) {
	s.b = New(Config{NodeID: stackNodeID, FetchWaitMsMax: 30_000, ReplicaSelector: selector,
		Logger: slog.New(slog.DiscardHandler)}, s.ctrl, s)
}

// consumerFetch is a consumer's Fetch of one partition from rack, long
// polling up to maxWaitMs for one byte.
func (s *replStack) consumerFetch(version int16, partition int32, offset int64, rack string, maxWaitMs int32) kmsg.FetchResponseTopicPartition {
	s.t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(version)
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = -1, maxWaitMs, 1, 1<<20, -1
	req.ReplicaState.ID, req.Rack = -1, rack
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = s.topic, s.ctrl.Image().Topic(s.topic).ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return onlyFetched(s.t, roundTrip[*kmsg.FetchResponse](s.t, s.b, req))
}

// TestFetchPreferredReadReplica: with the rack-aware selector the leader
// sends a consumer in broker 2's rack to broker 2 at once, with no records,
// while broker 2 is in the ISR and holds the fetch offset; it serves
// consumers elsewhere, without a rack, before v11 or without a selector.
func TestFetchPreferredReadReplica(t *testing.T) {
	s := newReplStack(t, 1)
	p := s.led(1)[0]
	s.produce1(p, 3)
	// Broker 2 reaches LEO 3, then the leader moves on to 5.
	for _, offset := range []int64{0, 3} {
		if fp := onlyFetched(t, roundTrip[*kmsg.FetchResponse](t, s.b, s.followerFetch(p, offset, -1, 0))); fp.ErrorCode != 0 {
			t.Fatalf("follower fetch at %d: error %d", offset, fp.ErrorCode)
		}
	}
	s.produce1(p, 2)

	if fp := s.consumerFetch(16, p, 0, replRack, 0); fp.PreferredReadReplica != -1 || len(fp.RecordBatches) == 0 {
		t.Fatalf("no selector: preferred %d, %d bytes", fp.PreferredReadReplica, len(fp.RecordBatches))
	}
	s.withSelector(SelectorRackAware)
	for _, v := range []int16{11, 12, 16} {
		// At the leader's HW a consumer would wait: the redirect does not.
		start := time.Now()
		fp := s.consumerFetch(v, p, 3, replRack, 30_000)
		if waited := time.Since(start); waited > 15*time.Second {
			t.Fatalf("v%d: redirected after %v", v, waited)
		}
		if fp.ErrorCode != 0 || fp.PreferredReadReplica != replFollower || len(fp.RecordBatches) != 0 || fp.HighWatermark != 3 {
			t.Fatalf("v%d from %s: error %d, preferred %d, %d bytes, HW %d", v, replRack, fp.ErrorCode,
				fp.PreferredReadReplica, len(fp.RecordBatches), fp.HighWatermark)
		}
	}
	for _, tc := range []struct {
		name    string
		version int16
		offset  int64
		rack    string
	}{
		{"beyond the follower's LEO", 16, 4, replRack},
		{"another rack", 16, 0, "rack-z"},
		{"no rack", 16, 0, ""},
		{"before v11", 10, 0, replRack},
	} {
		fp := s.consumerFetch(tc.version, p, tc.offset, tc.rack, 0)
		if fp.ErrorCode != 0 || (tc.version >= 11 && fp.PreferredReadReplica != -1) || fp.HighWatermark != 3 {
			t.Fatalf("%s: error %d, preferred %d, HW %d", tc.name, fp.ErrorCode, fp.PreferredReadReplica, fp.HighWatermark)
		}
		if tc.offset < 3 && len(fp.RecordBatches) == 0 {
			t.Fatalf("%s: the leader served no records", tc.name)
		}
	}
	// Out of the ISR, broker 2 is no candidate.
	part := s.part(p)
	mp := s.ctrl.Image().Topic(s.topic).Partitions[p]
	part.UpdateISR([]ids.NodeID{stackNodeID}, mp.PartitionEpoch+1, time.Now())
	if fp := s.consumerFetch(16, p, 0, replRack, 0); fp.PreferredReadReplica != -1 || len(fp.RecordBatches) == 0 {
		t.Fatalf("follower out of the ISR: preferred %d, %d bytes", fp.PreferredReadReplica, len(fp.RecordBatches))
	}
}

// TestFollowerServesNearestConsumer: with a selector a follower serves a
// consumer's v11+ fetch up to its own HW, and answers OFFSET_OUT_OF_RANGE
// beyond its LEO (the consumer then goes back to the leader); without a
// selector, or before v11, it refuses with NOT_LEADER_OR_FOLLOWER.
func TestFollowerServesNearestConsumer(t *testing.T) {
	s := newReplStack(t, 1)
	followed := s.ledBy(replFollower)
	if len(followed) == 0 {
		t.Fatal("broker 2 leads no partition")
	}
	p := followed[0]
	part := s.part(p)
	first, second := plainBatch(3), plainBatch(2)
	segment.SetBaseOffset(second, 3)
	for _, b := range [][]byte{first, second} {
		segment.SetPartitionLeaderEpoch(b, part.LeaderEpoch())
		if err := part.AppendAsFollower([]segment.Batch{valid(t, b)}); err != nil {
			t.Fatal(err)
		}
	}
	part.UpdateFollowerHW(3)

	if fp := s.consumerFetch(16, p, 0, replRack, 0); fp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("no selector: error %d", fp.ErrorCode)
	}
	s.withSelector(SelectorRackAware)
	if fp := s.consumerFetch(10, p, 0, "", 0); fp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("v10: error %d", fp.ErrorCode)
	}
	for _, v := range []int16{11, 16} {
		fp := s.consumerFetch(v, p, 0, replRack, 0)
		if fp.ErrorCode != 0 || fp.HighWatermark != 3 || fp.PreferredReadReplica != -1 || string(fp.RecordBatches) != string(first) {
			t.Fatalf("v%d: error %d, HW %d, preferred %d, %d bytes (want the first batch, %d)", v, fp.ErrorCode,
				fp.HighWatermark, fp.PreferredReadReplica, len(fp.RecordBatches), len(first))
		}
	}
	if fp := s.consumerFetch(16, p, 6, replRack, 0); fp.ErrorCode != kerr.OffsetOutOfRange.Code || fp.HighWatermark != 3 {
		t.Fatalf("beyond the follower's LEO: error %d, HW %d", fp.ErrorCode, fp.HighWatermark)
	}
}

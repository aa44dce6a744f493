package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/segment"
)

// listOffsets asks for one timestamp on each given partition of the
// stack's topic.
func (s *brokerStack) listOffsets(t *testing.T, version int16, ts int64, partitions ...int32) []kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(version)
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = s.topic
	for _, p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p, ts
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp := roundTrip[*kmsg.ListOffsetsResponse](t, s.b, req)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != len(partitions) {
		t.Fatalf("v%d: response %+v", version, resp.Topics)
	}
	return resp.Topics[0].Partitions
}

func TestListOffsetsTimestamps(t *testing.T) {
	s := newTopicStack(t, Config{}, 2)
	s.produce(t, 0, 3, 1000) // offsets 0-2, timestamps 1000-1002
	s.produce(t, 0, 3, 5000) // 3-5, 5000-5002: the largest
	s.produce(t, 0, 3, 2000) // 6-8, 2000-2002
	epoch := s.partition(0).LeaderEpoch()
	cases := []struct {
		name       string
		ts         int64
		minVersion int16
		offset     int64
		timestamp  int64
	}{
		{"earliest", timestampEarliest, 1, 0, -1},
		{"latest", timestampLatest, 1, 9, -1},
		{"max timestamp", timestampMax, 7, 5, 5002},
		{"exact", 1001, 1, 1, 1001},
		{"between batches", 1500, 1, 3, 5000},
		{"inside a batch", 5001, 1, 4, 5001},
		{"after every record", 9000, 1, -1, -1},
	}
	for _, c := range cases {
		for v := c.minVersion; v <= 7; v++ {
			p := s.listOffsets(t, v, c.ts, 0)[0]
			if p.ErrorCode != 0 || p.Offset != c.offset || p.Timestamp != c.timestamp {
				t.Errorf("%s v%d: error %d, offset %d, timestamp %d; want %d, %d", c.name, v, p.ErrorCode, p.Offset, p.Timestamp, c.offset, c.timestamp)
			}
			wantEpoch := epoch
			if c.offset < 0 || v < 4 {
				wantEpoch = -1
			}
			if p.LeaderEpoch != wantEpoch {
				t.Errorf("%s v%d: leader epoch %d, want %d", c.name, v, p.LeaderEpoch, wantEpoch)
			}
		}
	}
	// An empty partition: earliest and latest are 0, nothing by timestamp.
	for _, c := range []struct{ ts, offset int64 }{{timestampEarliest, 0}, {timestampLatest, 0}, {timestampMax, -1}, {0, -1}} {
		if p := s.listOffsets(t, 7, c.ts, 1)[0]; p.ErrorCode != 0 || p.Offset != c.offset {
			t.Errorf("empty partition, timestamp %d: error %d, offset %d, want %d", c.ts, p.ErrorCode, p.Offset, c.offset)
		}
	}
}

func TestListOffsetsErrors(t *testing.T) {
	s := newTopicStack(t, Config{}, 2)
	parts := s.listOffsets(t, 5, timestampLatest, 0, 1, 0, 9)
	want := []int16{kerr.InvalidRequest.Code, 0, kerr.InvalidRequest.Code, kerr.UnknownTopicOrPartition.Code}
	for i, p := range parts {
		if p.ErrorCode != want[i] {
			t.Errorf("#%d partition %d: error %d, want %d", i, p.Partition, p.ErrorCode, want[i])
		}
	}
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(4)
	req.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: s.topic, Partitions: []kmsg.ListOffsetsRequestTopicPartition{
		{Partition: 0, Timestamp: -1, CurrentLeaderEpoch: s.partition(0).LeaderEpoch() + 1}}}}
	resp := roundTrip[*kmsg.ListOffsetsResponse](t, s.b, req)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownLeaderEpoch.Code || p.Offset != -1 {
		t.Fatalf("future epoch: error %d, offset %d", p.ErrorCode, p.Offset)
	}
}

func TestOffsetForLeaderEpoch(t *testing.T) {
	s := newTopicStack(t, Config{}, 1)
	p0 := s.partition(0)
	first := p0.LeaderEpoch()
	s.produce(t, 0, 3, 1)
	// A later leader epoch: its batches carry it (the log records its start).
	later := segment.EncodeBatch(nil, segment.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]segment.Record{{Value: []byte("a")}, {Value: []byte("b")}})
	if _, err := p0.Log().Append(valid(t, later), first+3); err != nil { // LEO 5
		t.Fatal(err)
	}
	ask := func(version int16, tp int32, epoch, current int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.SetVersion(version)
		req.ReplicaID = -1
		req.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: s.topic, Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{
			{Partition: tp, LeaderEpoch: epoch, CurrentLeaderEpoch: current}}}}
		resp := roundTrip[*kmsg.OffsetForLeaderEpochResponse](t, s.b, req)
		return resp.Topics[0].Partitions[0]
	}
	for v := int16(2); v <= 4; v++ {
		for _, c := range []struct {
			epoch, wantEpoch int32
			wantEnd          int64
		}{
			{first, first, 3},         // ends where the next epoch starts
			{first + 1, first, 3},     // largest epoch <= the requested one
			{first + 3, first + 3, 5}, // the latest ends at LEO
			{first + 9, -1, -1},       // newer than any known: undefined
			{-1, -1, -1},
		} {
			p := ask(v, 0, c.epoch, -1)
			if p.ErrorCode != 0 || p.LeaderEpoch != c.wantEpoch || p.EndOffset != c.wantEnd {
				t.Errorf("v%d epoch %d: error %d, epoch %d, end %d; want %d, %d", v, c.epoch, p.ErrorCode, p.LeaderEpoch, p.EndOffset, c.wantEpoch, c.wantEnd)
			}
		}
		if p := ask(v, 7, first, -1); p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("v%d unknown partition: error %d", v, p.ErrorCode)
		}
		if p := ask(v, 0, first, first+1); p.ErrorCode != kerr.UnknownLeaderEpoch.Code || p.EndOffset != -1 {
			t.Errorf("v%d future current epoch: error %d, end %d", v, p.ErrorCode, p.EndOffset)
		}
	}
}

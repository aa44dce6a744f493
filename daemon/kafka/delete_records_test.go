package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon/group"
)

func deleteRecordsReq(version int16, topic string, offsets map[int32]int64) *kmsg.DeleteRecordsRequest {
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.SetVersion(version)
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	for p, off := range offsets {
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = p, off
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// deleteRecords sends one partition's DeleteRecords and returns its answer.
func deleteRecords(t *testing.T, s *brokerStack, version int16, topic string, partition int32, offset int64) kmsg.DeleteRecordsResponseTopicPartition {
	t.Helper()
	resp := roundTrip[*kmsg.DeleteRecordsResponse](t, s.b, deleteRecordsReq(version, topic, map[int32]int64{partition: offset}))
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("DeleteRecords v%d: %+v", version, resp.Topics)
	}
	return resp.Topics[0].Partitions[0]
}

func earliestOffset(t *testing.T, s *brokerStack, partition int32) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(7)
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = s.topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = partition, timestampEarliest, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	p := roundTrip[*kmsg.ListOffsetsResponse](t, s.b, req).Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("ListOffsets earliest: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	return p.Offset
}

func TestDeleteRecords(t *testing.T) {
	s := newTopicStack(t, stackConfig(), 1)
	for range 10 {
		s.produce(t, 0, 3, 1000)
	}
	for v, c := range []struct{ offset, want int64 }{{4, 4}, {2, 4}, {-1, 30}} {
		got := deleteRecords(t, s, int16(v), s.topic, 0, c.offset)
		if got.ErrorCode != 0 || got.LowWatermark != c.want {
			t.Fatalf("v%d DeleteRecords(%d): low watermark %d, %v; want %d", v, c.offset, got.LowWatermark, kerr.ErrorForCode(got.ErrorCode), c.want)
		}
		if e := earliestOffset(t, s, 0); e != c.want {
			t.Fatalf("v%d: ListOffsets earliest %d, want %d", v, e, c.want)
		}
		fetched := roundTrip[*kmsg.FetchResponse](t, s.b, s.fetchReq(12, map[int32]int64{0: c.want - 1}))
		if code := fetched.Topics[0].Partitions[0].ErrorCode; code != kerr.OffsetOutOfRange.Code {
			t.Fatalf("v%d: fetch below the log start: %v", v, kerr.ErrorForCode(code))
		}
	}

	s.hold.Store(true) // a topic this broker has not opened yet: not its leader
	s.createTopic("unopened", 1, nil)
	s.createTopic(group.OffsetsTopic, 1, nil)
	for _, c := range []struct {
		topic     string
		partition int32
		offset    int64
		want      *kerr.Error
	}{
		{s.topic, 0, 31, kerr.OffsetOutOfRange},
		{s.topic, 0, -2, kerr.OffsetOutOfRange},
		{s.topic, 1, 0, kerr.UnknownTopicOrPartition},
		{"missing", 0, 0, kerr.UnknownTopicOrPartition},
		{"unopened", 0, 0, kerr.NotLeaderForPartition},
		{group.OffsetsTopic, 0, 0, kerr.InvalidTopicException},
	} {
		got := deleteRecords(t, s, 2, c.topic, c.partition, c.offset)
		if got.ErrorCode != c.want.Code || got.LowWatermark != -1 {
			t.Errorf("%s-%d at %d: %v, low watermark %d; want %v", c.topic, c.partition, c.offset, kerr.ErrorForCode(got.ErrorCode), got.LowWatermark, c.want)
		}
	}
}

func TestDescribeLogDirs(t *testing.T) {
	s := newTopicStack(t, stackConfig(), 2)
	s.produce(t, 1, 5, 1000)
	s.createTopic("other", 1, nil)
	cfg := s.cfg
	cfg.DataDir = t.TempDir()
	b := New(cfg, s.ctrl, s)
	for v := int16(0); v <= 4; v++ {
		for _, c := range []struct {
			topics []kmsg.DescribeLogDirsRequestTopic
			want   map[string][]int32
		}{
			{nil, map[string][]int32{s.topic: {0, 1}, "other": {0}}},
			{[]kmsg.DescribeLogDirsRequestTopic{{Topic: s.topic, Partitions: []int32{1, 7}}, {Topic: "missing", Partitions: []int32{0}}},
				map[string][]int32{s.topic: {1}}},
		} {
			req := kmsg.NewPtrDescribeLogDirsRequest()
			req.SetVersion(v)
			req.Topics = c.topics
			resp := roundTrip[*kmsg.DescribeLogDirsResponse](t, b, req)
			if len(resp.Dirs) != 1 || resp.Dirs[0].Dir != cfg.DataDir || resp.Dirs[0].ErrorCode != 0 {
				t.Fatalf("v%d: dirs %+v", v, resp.Dirs)
			}
			d := resp.Dirs[0]
			if v >= 4 && (d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes) {
				t.Errorf("v%d: total %d, usable %d bytes", v, d.TotalBytes, d.UsableBytes)
			}
			got := map[string][]int32{}
			for _, dt := range d.Topics {
				for _, dp := range dt.Partitions {
					got[dt.Topic] = append(got[dt.Topic], dp.Partition)
					want := s.Partition(dt.Topic, dp.Partition).Log().SizeBytes()
					if dp.Size != want || dp.OffsetLag != 0 || dp.IsFuture {
						t.Errorf("v%d %s-%d: %+v, want size %d", v, dt.Topic, dp.Partition, dp, want)
					}
				}
			}
			if len(got) != len(c.want) {
				t.Fatalf("v%d topics %v: got %v, want %v", v, c.topics, got, c.want)
			}
			for topic, parts := range c.want {
				if len(got[topic]) != len(parts) {
					t.Errorf("v%d topics %v: got %v, want %v", v, c.topics, got, c.want)
				}
			}
		}
	}
}

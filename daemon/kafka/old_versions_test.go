package kafka

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/replica"
)

// listOffsetsV0 asks ListOffsets v0 for partition 0 of the stack's topic.
func listOffsetsV0(t *testing.T, s *brokerStack, replicaID int32, timestamp int64, maxOffsets int32) ([]int64, int16) {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(0)
	req.ReplicaID = replicaID
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = s.topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.MaxNumOffsets = 0, timestamp, maxOffsets
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	p := roundTrip[*kmsg.ListOffsetsResponse](t, s.b, req).Topics[0].Partitions[0]
	return p.OldStyleOffsets, p.ErrorCode
}

func TestListOffsetsV0(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	s.topic = "events"
	s.createTopic(s.topic, 1, map[string]string{"segment.bytes": "100"})
	for ts := int64(1000); ts <= 3000; ts += 1000 {
		s.produce(t, 0, 2, ts) // a segment each: (0, 1001) (2, 2001) (4, 3001), then (6, now)
	}
	for _, c := range []struct {
		timestamp int64
		max       int32
		want      []int64
	}{
		{timestampLatest, 1, []int64{6}},
		{timestampLatest, 10, []int64{6, 4, 2, 0}},
		{timestampEarliest, 1, []int64{0}},
		{timestampEarliest, 10, []int64{0}},
		{2500, 10, []int64{2, 0}},
		{2001, 1, []int64{2}},
		{500, 10, []int64{}},
		{time.Now().Add(time.Hour).UnixMilli(), 2, []int64{6, 4}},
	} {
		got, code := listOffsetsV0(t, s, -1, c.timestamp, c.max)
		if code != 0 || !slices.Equal(got, c.want) {
			t.Errorf("v0 timestamp %d max %d: %v, %v; want %v", c.timestamp, c.max, got, kerr.ErrorForCode(code), c.want)
		}
	}
	if _, err := s.partition(0).DeleteRecords(3); err != nil {
		t.Fatal(err)
	}
	if got, _ := listOffsetsV0(t, s, -1, timestampEarliest, 1); !slices.Equal(got, []int64{3}) {
		t.Errorf("v0 earliest after deleting below 3: %v", got)
	}

	// A consumer never sees offsets above HW; a debugging client (-2) does.
	self := []ids.NodeID{stackNodeID, 2}
	if err := s.partition(0).BecomeLeader(replica.Leadership{Epoch: 1, Replicas: self, ISR: self}, time.Now()); err != nil {
		t.Fatal(err)
	}
	s.produce(t, 0, 2, 4000)
	// Kafka's answer: HW in place of those above it, even if HW is next.
	if got, _ := listOffsetsV0(t, s, -1, timestampLatest, 3); !slices.Equal(got, []int64{6, 6, 4}) {
		t.Errorf("v0 latest for a consumer with HW 6, LEO 8: %v", got)
	}
	if got, _ := listOffsetsV0(t, s, -2, timestampLatest, 3); !slices.Equal(got, []int64{8, 6, 4}) {
		t.Errorf("v0 latest for a debugging client: %v", got)
	}
	s.topic = "missing"
	if _, code := listOffsetsV0(t, s, -1, timestampLatest, 1); code != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("v0 of a missing topic: %v", kerr.ErrorForCode(code))
	}
}

// TestOldVersions sends each API's oldest served version that Kafka 3.9
// still served (pre-KIP-896) and checks the answer and the ranges
// ApiVersions advertises.
func TestOldVersions(t *testing.T) {
	s := newTopicStack(t, stackConfig(), 1)
	s.produce(t, 0, 3, 1000)

	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(2) // exchange expects a flexible header, which ApiVersions lacks
	mins := map[int16]int16{}
	for _, k := range roundTrip[*kmsg.ApiVersionsResponse](t, s.b, av).ApiKeys {
		mins[k.ApiKey] = k.MinVersion
	}
	for _, key := range []int16{2, 3, 8, 9, 10, 19, 20, 23, 32} {
		if m, ok := mins[key]; !ok || m != 0 {
			t.Errorf("%s: advertised from v%d (served: %v), want v0", kmsg.NameForKey(key), m, ok)
		}
	}

	for v := int16(0); v <= 1; v++ {
		ct := kmsg.NewPtrCreateTopicsRequest()
		ct.SetVersion(v)
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = fmt.Sprintf("old%d", v), 2, 1
		ct.Topics = append(ct.Topics, rt)
		if got := roundTrip[*kmsg.CreateTopicsResponse](t, s.b, ct).Topics; len(got) != 1 || got[0].ErrorCode != 0 {
			t.Fatalf("CreateTopics v%d: %+v", v, got)
		}
		if tp := s.ctrl.Image().Topic(rt.Topic); tp == nil || len(tp.Partitions) != 2 {
			t.Fatalf("CreateTopics v%d did not create %s", v, rt.Topic)
		}
	}
	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.SetVersion(0)
	dt.TopicNames = []string{"old0", "missing"}
	got := roundTrip[*kmsg.DeleteTopicsResponse](t, s.b, dt).Topics
	if len(got) != 2 || got[0].ErrorCode != 0 || got[1].ErrorCode != kerr.UnknownTopicOrPartition.Code || s.ctrl.Image().Topic("old0") != nil {
		t.Errorf("DeleteTopics v0: %+v", got)
	}

	for v := int16(0); v <= 1; v++ {
		oe := kmsg.NewPtrOffsetForLeaderEpochRequest()
		oe.SetVersion(v)
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = s.topic
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.LeaderEpoch = s.partition(0).LeaderEpoch()
		rt.Partitions = append(rt.Partitions, rp)
		oe.Topics = append(oe.Topics, rt)
		p := roundTrip[*kmsg.OffsetForLeaderEpochResponse](t, s.b, oe).Topics[0].Partitions[0]
		wantEpoch := int32(-1) // v0 has no epoch in its answer
		if v == 1 {
			wantEpoch = rp.LeaderEpoch
		}
		if p.ErrorCode != 0 || p.EndOffset != 3 || p.LeaderEpoch != wantEpoch {
			t.Errorf("OffsetForLeaderEpoch v%d: %+v", v, p)
		}
	}

	cfg := describeConfigs(t, s, 0, false, resource(kmsg.ConfigResourceTypeTopic, s.topic, "retention.ms"))[0]
	if len(cfg.Configs) != 1 || !cfg.Configs[0].IsDefault || *cfg.Configs[0].Value != "604800000" {
		t.Errorf("DescribeConfigs v0: %+v", cfg)
	}
}

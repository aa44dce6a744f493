package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAlterPartitionReassignmentsErrors: each refusal of KIP-455 answers
// its partition with Kafka's code, in request order, and a target that is
// the current assignment is no change; ListPartitionReassignments then
// lists nothing (a single broker can move nothing; e2e moves partitions
// between three).
func TestAlterPartitionReassignmentsErrors(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	roundTrip[*kmsg.CreateTopicsResponse](t, s.b, createTopicsReq(7, false, newTopic("t", 2, 1)))
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	cases := []struct {
		topic     string
		partition int32
		replicas  []int32
		code      int16
	}{
		{"t", 0, []int32{}, kerr.InvalidReplicaAssignment.Code},
		{"t", 1, []int32{stackNodeID, stackNodeID}, kerr.InvalidReplicaAssignment.Code},
		{"t", 5, []int32{stackNodeID}, kerr.UnknownTopicOrPartition.Code},
		{"u", 0, []int32{99}, kerr.UnknownTopicOrPartition.Code},
	}
	for _, c := range cases {
		rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		rt.Topic = c.topic
		rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		rp.Partition, rp.Replicas = c.partition, c.replicas
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	// In one topic entry: an unregistered broker, a cancel with nothing in
	// progress, the current assignment, and partition 0 named again.
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = "v"
	roundTrip[*kmsg.CreateTopicsResponse](t, s.b, createTopicsReq(7, false, newTopic("v", 3, 1)))
	for _, c := range []struct {
		partition int32
		replicas  []int32
		code      int16
	}{
		{0, []int32{99}, kerr.InvalidReplicaAssignment.Code},
		{1, nil, kerr.NoReassignmentInProgress.Code},
		{2, []int32{stackNodeID}, 0},
		{0, []int32{stackNodeID}, kerr.InvalidRequest.Code},
	} {
		rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		rp.Partition, rp.Replicas = c.partition, c.replicas
		rt.Partitions = append(rt.Partitions, rp)
		cases = append(cases, struct {
			topic     string
			partition int32
			replicas  []int32
			code      int16
		}{"v", c.partition, c.replicas, c.code})
	}
	req.Topics = append(req.Topics, rt)
	resp := roundTrip[*kmsg.AlterPartitionAssignmentsResponse](t, s.b, req)
	if resp.ErrorCode != 0 {
		t.Fatalf("top-level error %d", resp.ErrorCode)
	}
	var got []kmsg.AlterPartitionAssignmentsResponseTopicPartition
	var topics []string
	for _, rt := range resp.Topics {
		topics = append(topics, rt.Topic)
		got = append(got, rt.Partitions...)
	}
	if len(got) != len(cases) || len(topics) != 3 || topics[0] != "t" || topics[1] != "u" || topics[2] != "v" {
		t.Fatalf("answered %d partitions of topics %v, want %d of [t u v]", len(got), topics, len(cases))
	}
	for i, c := range cases {
		if got[i].Partition != c.partition || got[i].ErrorCode != c.code {
			t.Errorf("%s-%d %v: partition %d code %d (%v), want code %d",
				c.topic, c.partition, c.replicas, got[i].Partition, got[i].ErrorCode, got[i].ErrorMessage, c.code)
		}
		if (c.code == 0) != (got[i].ErrorMessage == nil) {
			t.Errorf("%s-%d: message %v with code %d", c.topic, c.partition, got[i].ErrorMessage, c.code)
		}
	}
	list := roundTrip[*kmsg.ListPartitionReassignmentsResponse](t, s.b, kmsg.NewPtrListPartitionReassignmentsRequest())
	if list.ErrorCode != 0 || len(list.Topics) != 0 {
		t.Errorf("list: %+v, want no reassignment", list)
	}
}

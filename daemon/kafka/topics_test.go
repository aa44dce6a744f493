package kafka

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

func createTopicsReq(version int16, validateOnly bool, topics ...kmsg.CreateTopicsRequestTopic) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(version)
	req.TimeoutMillis, req.ValidateOnly, req.Topics = 5000, validateOnly, topics
	return req
}

func newTopic(name string, partitions int32, rf int16, configs ...string) kmsg.CreateTopicsRequestTopic {
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
	for i := 0; i+1 < len(configs); i += 2 {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = configs[i], kmsg.StringPtr(configs[i+1])
		rt.Configs = append(rt.Configs, c)
	}
	return rt
}

func TestCreateTopics(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	for v := int16(2); v <= 7; v++ {
		name := string(rune('a' + v))
		resp := roundTrip[*kmsg.CreateTopicsResponse](t, s.b, createTopicsReq(v, false, newTopic(name, 3, -1, "retention.ms", "1000")))
		st := resp.Topics[0]
		if st.ErrorCode != 0 || len(s.ctrl.Image().Topic(name).Partitions) != 3 || s.Partition(name, 2) == nil {
			t.Fatalf("v%d: %+v", v, st)
		}
		if v < 5 {
			continue
		}
		if st.NumPartitions != 3 || st.ReplicationFactor != 1 || len(st.Configs) < 10 {
			t.Errorf("v%d: %d partitions, RF %d, %d configs", v, st.NumPartitions, st.ReplicationFactor, len(st.Configs))
		}
		for _, c := range st.Configs {
			if c.Name == "retention.ms" && (*c.Value != "1000" || c.Source != 1) {
				t.Errorf("v%d retention.ms %s source %d", v, *c.Value, c.Source)
			}
			if c.Name == "segment.ms" && c.Source != 5 {
				t.Errorf("v%d segment.ms source %d", v, c.Source)
			}
		}
		if v == 7 && st.TopicID != s.ctrl.Image().Topic(name).ID {
			t.Errorf("topic id %x", st.TopicID)
		}
	}
}

func TestCreateTopicsErrors(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	s.createTopic("exists", 1, nil)
	assigned := func(name string, replicas ...[]int32) kmsg.CreateTopicsRequestTopic {
		rt := newTopic(name, -1, -1)
		for i, rs := range replicas {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(i), rs
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
		return rt
	}
	nullConfig := newTopic("nullconfig", 1, 1)
	nullConfig.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms"}}
	withAssignmentAndCount := assigned("both", []int32{stackNodeID})
	withAssignmentAndCount.NumPartitions = 1
	want := map[string]int16{
		"exists":       kerr.TopicAlreadyExists.Code,
		"rf3":          kerr.InvalidReplicationFactor.Code,
		"zero":         kerr.InvalidPartitions.Code,
		"bad name!":    kerr.InvalidTopicException.Code,
		"badconfig":    kerr.InvalidConfig.Code,
		"unknownconf":  kerr.InvalidConfig.Code,
		"nullconfig":   kerr.InvalidConfig.Code,
		"dup":          kerr.InvalidRequest.Code,
		"assigned":     0,
		"otherbroker":  kerr.InvalidReplicaAssignment.Code,
		"gap":          kerr.InvalidReplicaAssignment.Code,
		"both":         kerr.InvalidRequest.Code,
		"validateonly": 0,
	}
	resp := roundTrip[*kmsg.CreateTopicsResponse](t, s.b, createTopicsReq(7, false,
		newTopic("exists", 1, 1), newTopic("rf3", 1, 3), newTopic("zero", 0, 1), newTopic("bad name!", 1, 1),
		newTopic("badconfig", 1, 1, "retention.ms", "soon"), newTopic("unknownconf", 1, 1, "no.such", "1"), nullConfig,
		newTopic("dup", 1, 1), newTopic("dup", 2, 1),
		assigned("assigned", []int32{stackNodeID}, []int32{stackNodeID}), assigned("otherbroker", []int32{7}),
		assigned("gap", []int32{stackNodeID}, nil), withAssignmentAndCount))
	resp.Topics = append(resp.Topics, roundTrip[*kmsg.CreateTopicsResponse](t, s.b,
		createTopicsReq(7, true, newTopic("validateonly", 2, 1))).Topics...)
	if len(resp.Topics) != len(want) {
		t.Fatalf("%d answers for %d topics: %+v", len(resp.Topics), len(want), resp.Topics)
	}
	for _, st := range resp.Topics {
		if st.ErrorCode != want[st.Topic] {
			t.Errorf("%s: got %v, want %v", st.Topic, kerr.ErrorForCode(st.ErrorCode), kerr.ErrorForCode(want[st.Topic]))
		}
		if st.ErrorCode != 0 && (st.ErrorMessage == nil || st.NumPartitions != -1) {
			t.Errorf("%s: message %v, partitions %d", st.Topic, st.ErrorMessage, st.NumPartitions)
		}
	}
	im := s.ctrl.Image()
	if im.Topic("validateonly") != nil {
		t.Error("validate-only created the topic")
	}
	if a := im.Topic("assigned"); a == nil || len(a.Partitions) != 2 {
		t.Errorf("assigned topic %+v", a)
	}
}

func TestDeleteTopics(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	for _, name := range []string{"a", "b", "c", "d"} {
		s.createTopic(name, 1, nil)
	}
	byName := kmsg.NewPtrDeleteTopicsRequest()
	byName.SetVersion(1)
	if _, err := s.ctrl.CreateTopic(quorum.CreateTopic{Name: "__internal", Partitions: 1, ReplicationFactor: 1, Internal: true}, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	byName.TopicNames = []string{"a", "missing", "b", "b", "__internal"}
	resp := roundTrip[*kmsg.DeleteTopicsResponse](t, s.b, byName)
	want := map[string]int16{"a": 0, "missing": kerr.UnknownTopicOrPartition.Code, "b": kerr.InvalidRequest.Code,
		"__internal": kerr.InvalidRequest.Code}
	if len(resp.Topics) != 4 {
		t.Fatalf("answers %+v", resp.Topics)
	}
	for _, st := range resp.Topics {
		if st.ErrorCode != want[*st.Topic] {
			t.Errorf("%s: %v", *st.Topic, kerr.ErrorForCode(st.ErrorCode))
		}
	}
	c := s.ctrl.Image().Topic("c")
	byID := kmsg.NewPtrDeleteTopicsRequest()
	byID.SetVersion(6)
	byID.Topics = []kmsg.DeleteTopicsRequestTopic{{TopicID: c.ID}, {TopicID: [16]byte{9}}, {Topic: kmsg.StringPtr("d"), TopicID: c.ID}}
	resp = roundTrip[*kmsg.DeleteTopicsResponse](t, s.b, byID)
	if len(resp.Topics) != 3 || resp.Topics[0].ErrorCode != 0 || *resp.Topics[0].Topic != "c" ||
		resp.Topics[1].ErrorCode != kerr.UnknownTopicID.Code || resp.Topics[2].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("by id: %+v", resp.Topics)
	}
	im := s.ctrl.Image()
	if im.Topic("a") != nil || im.Topic("b") == nil || im.Topic("c") != nil || im.Topic("d") == nil || im.Topic("__internal") == nil {
		t.Errorf("topics left: %v", slices.Collect(im.Topics()))
	}
	if s.Partition("a", 0) != nil || s.Partition("c", 0) != nil {
		t.Error("deleted topics still hosted")
	}
}

func TestCreatePartitions(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	s.createTopic("t", 1, nil)
	s.createTopic("u", 1, nil)
	reqTopic := func(name string, count int32, assignment ...[]int32) kmsg.CreatePartitionsRequestTopic {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = name, count
		for _, rs := range assignment {
			rt.Assignment = append(rt.Assignment, kmsg.CreatePartitionsRequestTopicAssignment{Replicas: rs})
		}
		return rt
	}
	serve := func(version int16, validateOnly bool, topics ...kmsg.CreatePartitionsRequestTopic) map[string]int16 {
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.SetVersion(version)
		req.Topics, req.ValidateOnly, req.TimeoutMillis = topics, validateOnly, 5000
		codes := map[string]int16{}
		for _, st := range roundTrip[*kmsg.CreatePartitionsResponse](t, s.b, req).Topics {
			codes[st.Topic] = st.ErrorCode
		}
		return codes
	}
	if codes := serve(3, true, reqTopic("t", 4)); codes["t"] != 0 || len(s.ctrl.Image().Topic("t").Partitions) != 1 {
		t.Fatalf("validate only: %v", codes)
	}
	codes := serve(0, false, reqTopic("t", 3, []int32{stackNodeID}, []int32{stackNodeID}), reqTopic("u", 1),
		reqTopic("missing", 2), reqTopic("v", 2), reqTopic("v", 3))
	want := map[string]int16{"t": 0, "u": kerr.InvalidPartitions.Code, "missing": kerr.UnknownTopicOrPartition.Code,
		"v": kerr.InvalidRequest.Code}
	for name, code := range want {
		if codes[name] != code {
			t.Errorf("%s: got %v, want %v", name, kerr.ErrorForCode(codes[name]), kerr.ErrorForCode(code))
		}
	}
	if len(s.ctrl.Image().Topic("t").Partitions) != 3 || s.Partition("t", 2) == nil {
		t.Error("partitions not added")
	}
	if codes := serve(3, false, reqTopic("u", 2, []int32{7})); codes["u"] != kerr.InvalidReplicaAssignment.Code {
		t.Errorf("other broker: %v", kerr.ErrorForCode(codes["u"]))
	}
}

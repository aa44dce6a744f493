package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataReq asks for topics by name; nil asks for all of them.
func metadataReq(version int16, allowAutoCreate bool, topics ...string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(version)
	req.AllowAutoTopicCreation = allowAutoCreate
	if topics == nil && version > 0 {
		req.Topics = nil
		return req
	}
	req.Topics = []kmsg.MetadataRequestTopic{}
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	return req
}

func TestMetadataEveryVersion(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	created := s.createTopic("a", 3, nil)
	s.createTopic("b", 1, nil)
	for v := int16(0); v <= 12; v++ {
		resp := roundTrip[*kmsg.MetadataResponse](t, s.b, metadataReq(v, false))
		if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != stackNodeID || resp.Brokers[0].Port != 9092 {
			t.Fatalf("v%d brokers %+v", v, resp.Brokers)
		}
		if v >= 1 && resp.ControllerID != stackNodeID {
			t.Errorf("v%d controller %d", v, resp.ControllerID)
		}
		if v >= 2 && (resp.ClusterID == nil || *resp.ClusterID == "") {
			t.Errorf("v%d no cluster id", v)
		}
		if len(resp.Topics) != 2 || *resp.Topics[0].Topic != "a" || len(resp.Topics[0].Partitions) != 3 {
			t.Fatalf("v%d topics %+v", v, resp.Topics)
		}
		mt := resp.Topics[0]
		if v >= 10 && mt.TopicID != created.ID {
			t.Errorf("v%d topic id %x, want %x", v, mt.TopicID, created.ID)
		}
		if v >= 8 && mt.AuthorizedOperations != -2147483648 {
			t.Errorf("v%d authorized operations %d not requested", v, mt.AuthorizedOperations)
		}
		for i, mp := range mt.Partitions {
			if mp.ErrorCode != 0 || mp.Partition != int32(i) || mp.Leader != stackNodeID ||
				len(mp.Replicas) != 1 || len(mp.ISR) != 1 || (v >= 5 && len(mp.OfflineReplicas) != 0) {
				t.Errorf("v%d partition %+v", v, mp)
			}
		}
	}
}

func TestMetadataRequestedTopics(t *testing.T) {
	cfg := stackConfig()
	cfg.AutoCreateTopics = false
	s := newBrokerStack(t, cfg)
	known := s.createTopic("known", 1, nil)
	// An empty list asks for no topic from v1, for all of them in v0.
	if resp := roundTrip[*kmsg.MetadataResponse](t, s.b, metadataReq(1, false, []string{}...)); len(resp.Topics) != 0 {
		t.Errorf("v1 empty list: %d topics", len(resp.Topics))
	}
	resp := roundTrip[*kmsg.MetadataResponse](t, s.b, metadataReq(9, true, "known", "unknown"))
	if len(resp.Topics) != 2 || resp.Topics[0].ErrorCode != 0 || resp.Topics[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("%+v", resp.Topics)
	}
	if s.ctrl.Image().Topic("unknown") != nil {
		t.Fatal("created although auto-create is off")
	}
	// By topic id (v10+).
	req := metadataReq(12, false)
	req.Topics = []kmsg.MetadataRequestTopic{{TopicID: known.ID}, {TopicID: [16]byte{1}}}
	resp = roundTrip[*kmsg.MetadataResponse](t, s.b, req)
	if len(resp.Topics) != 2 || resp.Topics[0].ErrorCode != 0 || *resp.Topics[0].Topic != "known" ||
		resp.Topics[1].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("by id: %+v", resp.Topics)
	}
	req = metadataReq(12, false, "known")
	req.IncludeTopicAuthorizedOperations = true
	if resp = roundTrip[*kmsg.MetadataResponse](t, s.b, req); resp.Topics[0].AuthorizedOperations != topicOperationsAll {
		t.Errorf("authorized operations %b", resp.Topics[0].AuthorizedOperations)
	}
}

func TestMetadataAutoCreate(t *testing.T) {
	cfg := stackConfig()
	cfg.DefaultPartitions = 2
	s := newBrokerStack(t, cfg)
	// v4+ creates only when the request allows it.
	resp := roundTrip[*kmsg.MetadataResponse](t, s.b, metadataReq(9, false, "t1"))
	if resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("not allowed: %v", kerr.ErrorForCode(resp.Topics[0].ErrorCode))
	}
	for _, v := range []int16{3, 9} { // v0-3 always may
		resp = roundTrip[*kmsg.MetadataResponse](t, s.b, metadataReq(v, true, "t1"))
		mt := resp.Topics[0]
		if mt.ErrorCode != 0 || len(mt.Partitions) != 2 || mt.Partitions[1].Leader != stackNodeID {
			t.Fatalf("v%d: %+v", v, mt)
		}
	}
	resp = roundTrip[*kmsg.MetadataResponse](t, s.b, metadataReq(9, true, "bad name!"))
	if resp.Topics[0].ErrorCode != kerr.InvalidTopicException.Code {
		t.Errorf("invalid name: %v", kerr.ErrorForCode(resp.Topics[0].ErrorCode))
	}
	// A broker that has not opened the new partitions yet answers
	// LEADER_NOT_AVAILABLE, as Kafka does right after an auto-create.
	s.hold.Store(true)
	resp = roundTrip[*kmsg.MetadataResponse](t, s.b, metadataReq(9, true, "t2"))
	if mt := resp.Topics[0]; mt.ErrorCode != kerr.LeaderNotAvailable.Code || len(mt.Partitions) != 0 {
		t.Errorf("not hosted yet: %+v", mt)
	}
	if s.ctrl.Image().Topic("t2") == nil {
		t.Error("t2 not created")
	}
}

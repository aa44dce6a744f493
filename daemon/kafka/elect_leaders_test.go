package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func electLeadersReq(version int16, electionType int8, topic string, partitions ...int32) *kmsg.ElectLeadersRequest {
	req := kmsg.NewPtrElectLeadersRequest()
	req.SetVersion(version)
	req.ElectionType, req.TimeoutMillis = electionType, 5000
	if topic != "" {
		rt := kmsg.NewElectLeadersRequestTopic()
		rt.Topic, rt.Partitions = topic, partitions
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// TestElectLeaders: on one broker every partition is led by its only,
// preferred replica: a named one needs no election in either type, an
// unknown one is UNKNOWN_TOPIC_OR_PARTITION, all partitions answer none,
// and an unknown election type is INVALID_REQUEST for the request.
func TestElectLeaders(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	roundTrip[*kmsg.CreateTopicsResponse](t, s.b, createTopicsReq(7, false, newTopic("t", 2, 1)))
	for v := int16(0); v <= 2; v++ {
		for _, typ := range []int8{0, 1} {
			if v == 0 && typ == 1 {
				continue
			}
			resp := roundTrip[*kmsg.ElectLeadersResponse](t, s.b, electLeadersReq(v, typ, "t", 1, 5))
			if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
				t.Fatalf("v%d type %d: %+v", v, typ, resp)
			}
			ps := resp.Topics[0].Partitions
			if ps[0].Partition != 1 || ps[0].ErrorCode != kerr.ElectionNotNeeded.Code ||
				ps[1].Partition != 5 || ps[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
				t.Errorf("v%d type %d: %+v", v, typ, ps)
			}
		}
	}
	if resp := roundTrip[*kmsg.ElectLeadersResponse](t, s.b, electLeadersReq(2, 0, "")); resp.ErrorCode != 0 || len(resp.Topics) != 0 {
		t.Errorf("all partitions: %+v", resp)
	}
	resp := roundTrip[*kmsg.ElectLeadersResponse](t, s.b, electLeadersReq(2, 7, "t", 0))
	if resp.ErrorCode != kerr.InvalidRequest.Code || len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("election type 7: %+v", resp)
	}
}

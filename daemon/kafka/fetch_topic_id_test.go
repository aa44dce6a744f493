package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchReqAt is fetchReq naming the topic as the version does: by id from
// v13 on.
func (s *brokerStack) fetchReqAt(version int16, offsets map[int32]int64) *kmsg.FetchRequest {
	req := s.fetchReq(version, offsets)
	if version >= 13 {
		for i := range req.Topics {
			req.Topics[i].TopicID = s.ctrl.Image().Topic(req.Topics[i].Topic).ID
		}
	}
	return req
}

// TestFetchByTopicID: from v13 the request and the response name topics by
// id; an id the metadata does not know is UNKNOWN_TOPIC_ID for each of its
// partitions, echoing the id.
func TestFetchByTopicID(t *testing.T) {
	s := newTopicStack(t, Config{}, 2)
	s.produce(t, 1, 2, 1)
	id := s.ctrl.Image().Topic(s.topic).ID
	unknown := id
	unknown[0] ^= 0xff
	for v := int16(13); v <= 16; v++ {
		req := s.fetchReqAt(v, map[int32]int64{1: 0})
		other := kmsg.NewFetchRequestTopic()
		other.TopicID = unknown
		other.Partitions = []kmsg.FetchRequestTopicPartition{{Partition: 0, PartitionMaxBytes: 100}, {Partition: 1, PartitionMaxBytes: 100}}
		req.Topics = append(req.Topics, other)
		resp := roundTrip[*kmsg.FetchResponse](t, s.b, req)
		if len(resp.Topics) != 2 || resp.Topics[0].TopicID != id || resp.Topics[1].TopicID != unknown {
			t.Fatalf("v%d: topics %+v", v, resp.Topics)
		}
		if ps := resp.Topics[0].Partitions; len(ps) != 1 || ps[0].ErrorCode != 0 || ps[0].HighWatermark != 2 || len(ps[0].RecordBatches) == 0 {
			t.Fatalf("v%d: known id answered %+v", v, ps)
		}
		ps := resp.Topics[1].Partitions
		if len(ps) != 2 {
			t.Fatalf("v%d: unknown id answered %+v", v, ps)
		}
		for _, p := range ps {
			if p.ErrorCode != kerr.UnknownTopicID.Code || p.HighWatermark != -1 {
				t.Fatalf("v%d: unknown id, partition %d: error %d, HW %d", v, p.Partition, p.ErrorCode, p.HighWatermark)
			}
		}
	}
}

// TestFetchSessionByTopicID: a v13+ session keeps its partitions by topic
// id, forgets them by id, and refuses to go on with names; a topic deleted
// under it is UNKNOWN_TOPIC_ID, even once a topic of the same name exists.
func TestFetchSessionByTopicID(t *testing.T) {
	s := newTopicStack(t, Config{FetchSessionsMax: 10}, 2)
	s.produce(t, 0, 1, 1)
	full := s.fetchReqAt(16, map[int32]int64{0: 0, 1: 0})
	full.SessionEpoch = 0
	resp := roundTrip[*kmsg.FetchResponse](t, s.b, full)
	sid := resp.SessionID
	if resp.ErrorCode != 0 || sid == 0 || len(answered(resp)) != 2 {
		t.Fatalf("full fetch: error %d, session %d, partitions %v", resp.ErrorCode, sid, answered(resp))
	}
	id := s.ctrl.Image().Topic(s.topic).ID
	// Partition 0 forgotten by id: only partition 1's new records answer.
	s.produce(t, 0, 1, 1)
	s.produce(t, 1, 1, 1)
	inc := s.fetchReqAt(16, nil)
	inc.SessionID, inc.SessionEpoch = sid, 1
	inc.ForgottenTopics = []kmsg.FetchRequestForgottenTopic{{TopicID: id, Partitions: []int32{0}}}
	if resp := roundTrip[*kmsg.FetchResponse](t, s.b, inc); resp.ErrorCode != 0 || len(answered(resp)) != 1 ||
		answered(resp)[0] != 1 || resp.Topics[0].TopicID != id {
		t.Fatalf("epoch 1, partition 0 forgotten: error %d, topics %+v", resp.ErrorCode, resp.Topics)
	}
	byName := s.fetchReqAt(12, nil)
	byName.SessionID, byName.SessionEpoch = sid, 2
	if resp := roundTrip[*kmsg.FetchResponse](t, s.b, byName); resp.ErrorCode != kerr.FetchSessionTopicIDError.Code {
		t.Fatalf("v12 in a v13+ session: error %d", resp.ErrorCode)
	}

	if err := s.ctrl.DeleteTopic(s.topic); err != nil {
		t.Fatal(err)
	}
	s.createTopic(s.topic, 2, nil)
	inc = s.fetchReqAt(16, nil)
	inc.SessionID, inc.SessionEpoch = sid, 2
	resp = roundTrip[*kmsg.FetchResponse](t, s.b, inc)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || resp.Topics[0].TopicID != id || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("after re-creation: error %d, topics %+v", resp.ErrorCode, resp.Topics)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("the deleted topic's partition: error %d", p.ErrorCode)
	}
}

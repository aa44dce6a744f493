package kafka

// DeleteTopics v0-6: by name, and from v6 by topic id.
//
// The controller commits the deletion before it answers, so the timeout is
// not used. A topic named twice is INVALID_REQUEST, answered once; an
// internal topic (the daemon's own, such as __consumer_offsets) cannot be
// deleted (INVALID_REQUEST). An unknown id is UNKNOWN_TOPIC_ID.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(&api{key: 20, minVersion: 0, maxVersion: 6, serve: serveDeleteTopics})
}

func serveDeleteTopics(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	targets := req.Topics
	if req.Version < 6 {
		targets = make([]kmsg.DeleteTopicsRequestTopic, len(req.TopicNames))
		for i := range req.TopicNames {
			targets[i].Topic = &req.TopicNames[i]
		}
	}
	// Resolve every target first, so duplicates by name or by id are found alike.
	answers := make([]kmsg.DeleteTopicsResponseTopic, len(targets))
	counts := map[string]int{}
	for i, rt := range targets {
		answers[i] = b.deleteTarget(rt)
		if answers[i].ErrorCode == 0 {
			counts[*answers[i].Topic]++
		}
	}
	for _, st := range answers {
		if st.ErrorCode == 0 {
			name := *st.Topic
			switch n := counts[name]; {
			case n == 0: // a duplicate, answered already
				continue
			case n > 1:
				st.ErrorCode = kerr.InvalidRequest.Code
				st.ErrorMessage = errorMessage(fmt.Errorf("topic %q named more than once", name))
			default:
				err := b.ctrl.DeleteTopic(name)
				st.ErrorCode, st.ErrorMessage = b.errorCode(err), errorMessage(err)
			}
			counts[name] = 0
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// deleteTarget resolves a topic to delete by name or id: the answer with
// the topic's name and id, or with the error that stops its deletion.
func (b *Broker) deleteTarget(rt kmsg.DeleteTopicsRequestTopic) kmsg.DeleteTopicsResponseTopic {
	st := kmsg.NewDeleteTopicsResponseTopic()
	st.Topic, st.TopicID = rt.Topic, rt.TopicID
	im := b.ctrl.Image()
	t := im.TopicByID(rt.TopicID)
	switch {
	case rt.Topic != nil && rt.TopicID != [16]byte{}:
		st.ErrorCode = kerr.InvalidRequest.Code
		st.ErrorMessage = errorMessage(fmt.Errorf("topic %q: give a name or an id, not both", *rt.Topic))
		return st
	case rt.Topic != nil:
		if t = im.Topic(*rt.Topic); t == nil {
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
			return st
		}
	case t == nil:
		st.ErrorCode = kerr.UnknownTopicID.Code
		return st
	}
	st.Topic, st.TopicID = &t.Name, t.ID
	if t.Internal {
		st.ErrorCode = kerr.InvalidRequest.Code
		st.ErrorMessage = errorMessage(fmt.Errorf("topic %q is internal and cannot be deleted", t.Name))
	}
	return st
}

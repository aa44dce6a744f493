package kafka

// CreatePartitions v0-3: raise a topic's partition count, optionally with
// the replicas of the new partitions (which must be exactly this broker, as
// for CreateTopics) and validate-only. The controller commits before it
// answers, so the timeout is not used. A topic named twice is
// INVALID_REQUEST, answered once. Past the partitions one request may add
// (Config.PartitionsPerRequestMax) or a broker may host, a topic is
// POLICY_VIOLATION; a count that adds none is INVALID_PARTITIONS.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(&api{key: 37, minVersion: 0, maxVersion: 3, serve: serveCreatePartitions})
}

func serveCreatePartitions(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	counts := map[string]int{}
	for _, rt := range req.Topics {
		counts[rt.Topic]++
	}
	var added int // partitions the request added so far
	for _, rt := range req.Topics {
		if counts[rt.Topic] == 0 { // a duplicate, answered already
			continue
		}
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		err := b.createPartitions(rt, counts[rt.Topic] > 1, req.ValidateOnly, &added)
		st.ErrorCode, st.ErrorMessage = b.errorCode(err), errorMessage(err)
		counts[rt.Topic] = 0
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (b *Broker) createPartitions(rt kmsg.CreatePartitionsRequestTopic, duplicate, validateOnly bool, added *int) error {
	if duplicate {
		return fmt.Errorf("%w: topic %q named more than once", kerr.InvalidRequest, rt.Topic)
	}
	t := b.ctrl.Image().Topic(rt.Topic)
	if t == nil {
		return fmt.Errorf("%w: topic %q", kerr.UnknownTopicOrPartition, rt.Topic)
	}
	n := int(rt.Count) - len(t.Partitions)
	if err := b.checkRequestPartitions(rt.Topic, *added, n); err != nil {
		return err
	}
	if rt.Assignment != nil {
		// A count that adds nothing is the controller's INVALID_PARTITIONS.
		if n > 0 && n != len(rt.Assignment) {
			return fmt.Errorf("%w: %d assignments for %d new partitions", kerr.InvalidReplicaAssignment, len(rt.Assignment), n)
		}
		replicas := make([][]int32, len(rt.Assignment))
		for i, a := range rt.Assignment {
			replicas[i] = a.Replicas
		}
		if err := b.checkAssignment(replicas); err != nil {
			return err
		}
	}
	if err := b.ctrl.CreatePartitions(rt.Topic, rt.Count, validateOnly); err != nil {
		return err
	}
	*added += n
	return nil
}

package kafka

// AlterPartitionReassignments v0 (KIP-455): start, change (replicas given)
// or cancel (replicas null) each named partition's reassignment, run by the
// controller as one change (forwarded to it by a node that is not it) and
// answered per partition: INVALID_REPLICA_ASSIGNMENT (empty target, a
// broker twice or unregistered, a cancel that needs an unclean election),
// NO_REASSIGNMENT_IN_PROGRESS (cancel), UNKNOWN_TOPIC_OR_PARTITION,
// INVALID_REQUEST (a partition named twice). The change is committed when
// the answer goes out; the moving itself goes on: ListPartitionReassignments
// shows it until the new replicas are in sync. The controller commits
// before it answers, so the timeout is not used. An error of the whole
// request is the top-level error code and every partition's.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

func init() {
	register(&api{key: 45, minVersion: 0, maxVersion: 0, serve: serveAlterPartitionReassignments})
}

func serveAlterPartitionReassignments(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	var reqs []quorum.Reassignment
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			reqs = append(reqs, quorum.Reassignment{
				TopicPartition: quorum.TopicPartition{Topic: rt.Topic, Partition: rp.Partition},
				Replicas:       rp.Replicas,
			})
		}
	}
	results, err := b.ctrl.AlterPartitionReassignments(reqs)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = b.errorCode(err), errorMessage(err)
		results = make([]quorum.ReassignmentResult, len(reqs))
		for i, rq := range reqs {
			results[i] = quorum.ReassignmentResult{TopicPartition: rq.TopicPartition, Err: err}
		}
	}
	answerByTopic(&resp.Topics, results, func(res quorum.ReassignmentResult) string { return res.Topic },
		func(name string) kmsg.AlterPartitionAssignmentsResponseTopic {
			rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			rt.Topic = name
			return rt
		},
		func(rt *kmsg.AlterPartitionAssignmentsResponseTopic, res quorum.ReassignmentResult) {
			rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			rp.Partition = res.Partition
			rp.ErrorCode, rp.ErrorMessage = b.errorCode(res.Err), errorMessage(res.Err)
			rt.Partitions = append(rt.Partitions, rp)
		})
	return resp, nil
}

package kafka

// ElectLeaders v0-2: preferred (v0, and election type 0) or unclean
// (type 1, KIP-460) leader elections of the partitions named, or of every
// partition when the topics are null, run by the controller as one change
// (forwarded to it by a node that is not it) and answered per partition:
// ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE,
// ELIGIBLE_LEADERS_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION. For all
// partitions only those that needed an election are answered, as Kafka
// does. The controller commits before it answers, so the timeout is not
// used. An error of the whole request is the v1+ top-level error code and
// every named partition's.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

func init() {
	register(&api{key: 43, minVersion: 0, maxVersion: 2, serve: serveElectLeaders})
}

func serveElectLeaders(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	var partitions []quorum.TopicPartition
	if req.Topics != nil {
		partitions = []quorum.TopicPartition{}
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				partitions = append(partitions, quorum.TopicPartition{Topic: rt.Topic, Partition: p})
			}
		}
	}
	electionType := req.ElectionType
	if req.Version == 0 {
		electionType = quorum.ElectPreferred
	}
	results, err := b.ctrl.ElectLeaders(electionType, partitions)
	if err != nil {
		resp.ErrorCode = b.errorCode(err)
		results = results[:0]
		for _, tp := range partitions {
			results = append(results, quorum.ElectionResult{TopicPartition: tp, Err: err})
		}
	}
	answerByTopic(&resp.Topics, results, func(res quorum.ElectionResult) string { return res.Topic },
		func(name string) kmsg.ElectLeadersResponseTopic {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = name
			return rt
		},
		func(rt *kmsg.ElectLeadersResponseTopic, res quorum.ElectionResult) {
			rp := kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition = res.Partition
			rp.ErrorCode, rp.ErrorMessage = b.errorCode(res.Err), errorMessage(res.Err)
			rt.Partitions = append(rt.Partitions, rp)
		})
	return resp, nil
}

// answerByTopic appends each result to its topic's entry of a response's
// topics, made by newTopic on the topic's first result: topics in the order
// they first appear, partitions in request order.
func answerByTopic[R, T any](topics *[]T, results []R, topicOf func(R) string, newTopic func(string) T, add func(*T, R)) {
	index := map[string]int{}
	for _, res := range results {
		name := topicOf(res)
		i, ok := index[name]
		if !ok {
			i = len(*topics)
			index[name] = i
			*topics = append(*topics, newTopic(name))
		}
		add(&(*topics)[i], res)
	}
}

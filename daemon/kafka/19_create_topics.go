package kafka

// CreateTopics v0-7: partitions and replication factor (-1: the broker's
// defaults), a manual replica assignment, config overrides, validate-only (v1+).
// v5+ answers the created topic's partition count, replication factor and
// every config with its effective value; v7 its topic id.
//
// The controller commits a topic before it answers, so the timeout is never
// reached and is not used. A manual assignment must name partitions 0..n-1
// once each, every one on exactly this broker, the only one today
// (INVALID_REPLICA_ASSIGNMENT otherwise, Kafka's code for a bad assignment). A topic named twice in one request is
// INVALID_REQUEST, answered once.
//
// Limits: a topic past the broker's or the cluster's (partitions per broker,
// topics) is POLICY_VIOLATION, as is one that would take the partitions the
// request adds past Config.PartitionsPerRequestMax; a bad partition count is
// INVALID_PARTITIONS.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

func init() {
	register(&api{key: 19, minVersion: 0, maxVersion: 7, serve: serveCreateTopics})
}

func serveCreateTopics(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	counts := map[string]int{}
	for _, rt := range req.Topics {
		counts[rt.Topic]++
	}
	var added int // partitions the request added so far
	for _, rt := range req.Topics {
		switch counts[rt.Topic] {
		case 0: // a duplicate, answered already
			continue
		case 1:
			resp.Topics = append(resp.Topics, b.createTopic(rt, req.ValidateOnly, &added))
		default:
			st := kmsg.NewCreateTopicsResponseTopic()
			st.Topic, st.ErrorCode = rt.Topic, kerr.InvalidRequest.Code
			st.ErrorMessage = errorMessage(fmt.Errorf("topic %q named more than once", rt.Topic))
			resp.Topics = append(resp.Topics, st)
		}
		counts[rt.Topic] = 0
	}
	return resp, nil
}

func (b *Broker) createTopic(rt kmsg.CreateTopicsRequestTopic, validateOnly bool, added *int) kmsg.CreateTopicsResponseTopic {
	st := kmsg.NewCreateTopicsResponseTopic()
	st.Topic = rt.Topic
	t, err := b.commitTopic(rt, validateOnly, added)
	if err != nil {
		st.ErrorCode, st.ErrorMessage = b.errorCode(err), errorMessage(err)
		return st
	}
	b.describeCreatedTopic(&st, t)
	return st
}

func (b *Broker) commitTopic(rt kmsg.CreateTopicsRequestTopic, validateOnly bool, added *int) (*quorum.Topic, error) {
	ct, err := b.createTopicRequest(rt)
	if err != nil {
		return nil, err
	}
	n := ct.Partitions
	if n == -1 {
		n = b.cfg.DefaultPartitions
	}
	if err := b.checkRequestPartitions(rt.Topic, *added, int(n)); err != nil {
		return nil, err
	}
	t, err := b.ctrl.CreateTopic(ct, b.cfg.DefaultPartitions, b.cfg.DefaultReplicationFactor, validateOnly)
	if err == nil {
		*added += len(t.Partitions)
	}
	return t, err
}

// checkRequestPartitions refuses to add n more partitions (a bad n is the
// controller's to refuse) to a request that has added some already.
func (b *Broker) checkRequestPartitions(topic string, added, n int) error {
	if most := b.cfg.PartitionsPerRequestMax; most > 0 && n > 0 && added+n > most {
		return fmt.Errorf("%w: topic %q: %d partitions after the %d this request added pass its limit of %d (topics.max_partitions_per_request)",
			kerr.PolicyViolation, topic, n, added, most)
	}
	return nil
}

// createTopicRequest turns a request topic into the controller's request,
// checking what only the Kafka layer sees: the replica assignment and null
// config values.
func (b *Broker) createTopicRequest(rt kmsg.CreateTopicsRequestTopic) (quorum.CreateTopic, error) {
	ct := quorum.CreateTopic{Name: rt.Topic, Partitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor,
		Configs: make(map[string]string, len(rt.Configs))}
	for _, c := range rt.Configs {
		if c.Value == nil {
			return ct, fmt.Errorf("%w: config %s has a null value", kerr.InvalidConfig, c.Name)
		}
		if _, dup := ct.Configs[c.Name]; dup {
			return ct, fmt.Errorf("%w: config %s given twice", kerr.InvalidRequest, c.Name)
		}
		ct.Configs[c.Name] = *c.Value
	}
	if len(rt.ReplicaAssignment) == 0 {
		return ct, nil
	}
	if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
		return ct, fmt.Errorf("%w: a replica assignment needs partitions and replication factor -1", kerr.InvalidRequest)
	}
	replicas := make([][]int32, len(rt.ReplicaAssignment))
	for _, a := range rt.ReplicaAssignment {
		if a.Partition < 0 || int(a.Partition) >= len(replicas) || replicas[a.Partition] != nil {
			return ct, fmt.Errorf("%w: partitions must be 0 to %d, once each", kerr.InvalidReplicaAssignment, len(replicas)-1)
		}
		replicas[a.Partition] = a.Replicas
	}
	if err := b.checkAssignment(replicas); err != nil {
		return ct, err
	}
	ct.Partitions, ct.ReplicationFactor = int32(len(replicas)), int16(len(replicas[0]))
	return ct, nil
}

// checkAssignment checks manual replica lists (CreateTopics,
// CreatePartitions). The controller places replicas itself and the cluster
// is this one broker, so every list must be exactly this broker.
func (b *Broker) checkAssignment(replicas [][]int32) error {
	for i, rs := range replicas {
		if len(rs) != 1 || rs[0] != b.cfg.NodeID {
			return fmt.Errorf("%w: replicas %v of assignment %d: this cluster places replicas on broker %d only",
				kerr.InvalidReplicaAssignment, rs, i, b.cfg.NodeID)
		}
	}
	return nil
}

// describeCreatedTopic fills what v5+ reports of a created topic.
func (b *Broker) describeCreatedTopic(st *kmsg.CreateTopicsResponseTopic, t *quorum.Topic) {
	st.TopicID = t.ID
	st.NumPartitions = int32(len(t.Partitions))
	if len(t.Partitions) > 0 {
		st.ReplicationFactor = int16(len(t.Partitions[0].Replicas))
	}
	for _, cv := range b.topicDefaults(b.ctrl.Image()).Describe(t.Configs) {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.Source = cv.Name, &cv.Value, int8(cv.Source)
		st.Configs = append(st.Configs, c)
	}
}

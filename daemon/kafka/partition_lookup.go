package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/riffle/riffle/replica"
)

// leaderPartition finds the replica a partition request is served from:
// UNKNOWN_TOPIC_OR_PARTITION when the metadata has no such partition,
// NOT_LEADER_OR_FOLLOWER when this broker does not lead it or has not opened
// its replica yet.
func (b *Broker) leaderPartition(topic string, partition int32) (*replica.Partition, int16) {
	t := b.ctrl.Image().Topic(topic)
	if t == nil || partition < 0 || int(partition) >= len(t.Partitions) {
		return nil, kerr.UnknownTopicOrPartition.Code
	}
	if t.Partitions[partition].Leader != b.cfg.NodeID {
		return nil, kerr.NotLeaderForPartition.Code
	}
	p := b.parts.Partition(topic, partition)
	if p == nil {
		return nil, kerr.NotLeaderForPartition.Code
	}
	return p, 0
}

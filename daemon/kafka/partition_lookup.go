package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
)

// leaderPartition finds the replica a partition request is served from:
// UNKNOWN_TOPIC_OR_PARTITION when the metadata has no such partition,
// NOT_LEADER_OR_FOLLOWER when the metadata names another leader (this
// broker may host a follower replica of it) or this broker has not opened
// its replica yet.
func (b *Broker) leaderPartition(topic string, partition int32) (*replica.Partition, int16) {
	leader, _, ok := imageLeader(b.ctrl.Image(), topic, partition)
	if !ok {
		return nil, kerr.UnknownTopicOrPartition.Code
	}
	if leader != b.cfg.NodeID {
		return nil, kerr.NotLeaderForPartition.Code
	}
	p := b.parts.Partition(topic, partition)
	if p == nil {
		return nil, kerr.NotLeaderForPartition.Code
	}
	return p, 0
}

// imageLeader is a partition's leader (-1: none) and leader epoch in im;
// !ok when im has no such partition.
func imageLeader(im *quorum.Image, topic string, partition int32) (leader, epoch int32, ok bool) {
	t := im.Topic(topic)
	if t == nil || partition < 0 || int(partition) >= len(t.Partitions) {
		return -1, -1, false
	}
	mp := t.Partitions[partition]
	return mp.Leader, mp.LeaderEpoch, true
}

// hwBelowEpochStart reports whether a leader's HW lags the start of its
// leader epoch (cluster-notes §3, Kafka's Partition.fetchOffsetForTimestamp):
// it took over with records its followers may not have yet. The first
// epoch has no earlier leader and never lags.
func hwBelowEpochStart(p *replica.Partition) bool {
	_, start := p.Log().EndOffsetForEpoch(p.LeaderEpoch() - 1)
	return start >= 0 && p.HighWatermark() < start
}

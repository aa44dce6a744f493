package kafka

import (
	"slices"

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
	return b.hostedPartition(topic, partition, true)
}

// hostedPartition is leaderPartition that, unless leaderOnly, also finds a
// follower replica: NOT_LEADER_OR_FOLLOWER then when the metadata does not
// place a replica on this broker.
func (b *Broker) hostedPartition(topic string, partition int32, leaderOnly bool) (*replica.Partition, int16) {
	im := b.ctrl.Image()
	leader, _, ok := imageLeader(im, topic, partition)
	if !ok {
		return nil, kerr.UnknownTopicOrPartition.Code
	}
	if leaderOnly && leader != b.cfg.NodeID ||
		!leaderOnly && !slices.Contains(im.Topic(topic).Partitions[partition].Replicas, b.cfg.NodeID) {
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

// currentLeader is what a NOT_LEADER_OR_FOLLOWER answer tells of a
// partition's leader (KIP-951): its id and epoch by im, and its endpoint
// when im has it registered (else nil); !ok when there is no leader to
// name.
func currentLeader(im *quorum.Image, topic string, partition int32) (hint leaderHint, endpoint *quorum.Broker, ok bool) {
	leader, epoch, ok := imageLeader(im, topic, partition)
	if !ok || leader < 0 {
		return leaderHint{id: -1, epoch: -1}, nil, false
	}
	if br, known := im.Broker(leader); known {
		endpoint = &br
	}
	return leaderHint{id: leader, epoch: epoch}, endpoint, true
}

// fetchLeaderHint is currentLeader for a Fetch answer: the hint, and
// brokers with the leader's endpoint added once.
func fetchLeaderHint(im *quorum.Image, topic string, partition int32, brokers []quorum.Broker) (*leaderHint, []quorum.Broker) {
	hint, endpoint, ok := currentLeader(im, topic, partition)
	if !ok {
		return nil, brokers
	}
	if endpoint != nil && !slices.ContainsFunc(brokers, func(br quorum.Broker) bool { return br.ID == endpoint.ID }) {
		brokers = append(brokers, *endpoint)
	}
	return &hint, brokers
}

// hwBelowEpochStart reports whether a leader's HW lags the start of its
// leader epoch (cluster-notes §3, Kafka's Partition.fetchOffsetForTimestamp):
// it took over with records its followers may not have yet. The first
// epoch has no earlier leader and never lags.
func hwBelowEpochStart(p *replica.Partition) bool {
	_, start := p.Log().EndOffsetForEpoch(p.LeaderEpoch() - 1)
	return start >= 0 && p.HighWatermark() < start
}

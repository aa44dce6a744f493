package replicas

import (
	"slices"
	"time"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
)

// transitionLocked gives a hosted replica the role mp assigns, by Kafka's
// rules (cluster-notes §3, Partition.makeLeader/makeFollower): state whose
// partition epoch is below the one acted on is stale and ignored; a new
// leader epoch makes this broker the leader or a follower (moving the
// partition to the new leader's fetcher, none when leaderless); the same
// leader epoch with a newer partition epoch is an ISR change, or a
// reassignment's change of the replicas, which only the leader acts on. A
// failed transition is retried with the next image that touches the
// partition.
func (m *Manager) transitionLocked(tp topicPartition, h *hosted, mp quorum.Partition) {
	leader, epoch, pe := ids.NodeID(mp.Leader), ids.Epoch(mp.LeaderEpoch), mp.PartitionEpoch
	if h.roleSet && pe < h.partitionEpoch {
		return
	}
	now := time.Now()
	switch {
	case !h.roleSet || epoch != h.epoch:
		// The old leader's fetcher lets go before the role changes, so
		// that no fetched batch lands after it.
		m.unfollowLocked(tp)
		var err error
		if leader == m.opts.NodeID {
			err = h.p.BecomeLeader(replica.Leadership{Epoch: epoch, PartitionEpoch: pe,
				Replicas: nodeIDs(mp.Replicas), ISR: nodeIDs(mp.ISR)}, now)
		} else {
			err = h.p.BecomeFollower(leader, epoch, pe)
		}
		if err != nil {
			h.roleSet = false
			m.log.Error("partition role change", "topic", tp.topic, "partition", tp.partition,
				"leader", leader, "leader_epoch", epoch, "err", err)
			return
		}
		if leader != m.opts.NodeID && leader != ids.NoNode {
			m.followLocked(tp, h.p, leader, epoch)
		}
		m.log.Debug("partition role", "topic", tp.topic, "partition", tp.partition, "leader", leader,
			"leader_epoch", epoch, "partition_epoch", pe)
	case pe > h.partitionEpoch && leader == m.opts.NodeID && !slices.Equal(mp.Replicas, h.replicas):
		// A reassignment changed the replicas at this leader epoch: the
		// leader takes them (and the ISR), serving the adding replicas'
		// fetches from now on.
		if err := h.p.BecomeLeader(replica.Leadership{Epoch: epoch, PartitionEpoch: pe,
			Replicas: nodeIDs(mp.Replicas), ISR: nodeIDs(mp.ISR)}, now); err != nil {
			m.log.Error("partition replicas change", "topic", tp.topic, "partition", tp.partition,
				"replicas", mp.Replicas, "leader_epoch", epoch, "err", err)
			return
		}
	case pe > h.partitionEpoch && leader == m.opts.NodeID:
		h.p.UpdateISR(nodeIDs(mp.ISR), pe, now)
	case leader != m.opts.NodeID && leader != ids.NoNode:
		// Any change to the partition ends a fetch fenced at this epoch.
		m.resumeLocked(tp)
	}
	h.roleSet, h.epoch, h.partitionEpoch, h.replicas = true, epoch, pe, mp.Replicas
}

// followLocked hands tp to the fetcher of leader, starting it if needed.
func (m *Manager) followLocked(tp topicPartition, p *replica.Partition, leader ids.NodeID, epoch ids.Epoch) {
	f := m.fetchers[leader]
	if f == nil {
		f = newFetcher(m, leader)
		m.fetchers[leader] = f
	}
	f.add(tp, p, epoch)
}

// unfollowLocked takes tp from whichever fetcher carries it, once any
// response being applied to it is done.
func (m *Manager) unfollowLocked(tp topicPartition) {
	for _, f := range m.fetchers {
		f.remove(tp)
	}
}

// pruneFetchersLocked stops the fetchers left with no partition, after a
// change has moved partitions between them (a partition that moves to a
// new epoch of the same leader keeps its fetcher and connection).
func (m *Manager) pruneFetchersLocked() {
	for id, f := range m.fetchers {
		if f.empty() {
			f.stop()
			delete(m.fetchers, id)
		}
	}
}

// resumeLocked lets tp's fetcher fetch it again after a fencing error.
func (m *Manager) resumeLocked(tp topicPartition) {
	for _, f := range m.fetchers {
		f.resume(tp)
	}
}

// eligible is replica.Options.Eligible: whether a broker may join an ISR
// by the latest image (KIP-841): registered, unfenced, not in controlled
// shutdown, and fetching at its registered epoch (-1: not known).
func (m *Manager) eligible(id ids.NodeID, brokerEpoch int64) bool {
	b, ok := m.opts.Metadata.Image().Broker(int32(id))
	return ok && !b.Fenced && !b.InControlledShutdown && (brokerEpoch == -1 || brokerEpoch == b.Epoch)
}

func nodeIDs(in []int32) []ids.NodeID {
	out := make([]ids.NodeID, len(in))
	for i, id := range in {
		out[i] = ids.NodeID(id)
	}
	return out
}

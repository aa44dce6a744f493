package quorum

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Leader election and ISR changes, as KRaft's PartitionChangeBuilder does
// without eligible leader replicas (KIP-966): the ISR never becomes empty
// (its last member stays, leaderless, until it returns), and a partition
// with no acceptable ISR member has leader -1 (offline) unless its topic
// enables unclean election. Every change is a partitionChangeRecord.

// uncleanElection reports whether topic t lets an out-of-sync replica lead
// (unclean.leader.election.enable; the default is false).
func uncleanElection(t *Topic) bool {
	return strings.EqualFold(strings.TrimSpace(t.Configs["unclean.leader.election.enable"]), "true")
}

// rebalance returns the change that drops broker remove (-1: none) from
// p's ISR, keeping the ISR non-empty, and elects a leader if the current
// one is not acceptable: the first replica in assignment order that is in
// the ISR and acceptable; failing that, with unclean election on, the
// first acceptable replica with ISR = [it]; failing that, -1. ok is false
// when nothing changes.
func rebalance(t *Topic, p Partition, remove int32, acceptable func(int32) bool) (partitionChangeRecord, bool) {
	isr := p.ISR
	if slices.Contains(isr, remove) && len(isr) > 1 {
		isr = slices.DeleteFunc(slices.Clone(isr), func(id int32) bool { return id == remove })
	}
	leader := p.Leader
	if leader == -1 || !acceptable(leader) || !slices.Contains(isr, leader) {
		leader = -1
		inISR := func(id int32) bool { return slices.Contains(isr, id) && acceptable(id) }
		if i := slices.IndexFunc(p.Replicas, inISR); i >= 0 {
			leader = p.Replicas[i]
		} else if i := slices.IndexFunc(p.Replicas, acceptable); i >= 0 && uncleanElection(t) {
			leader, isr = p.Replicas[i], []int32{p.Replicas[i]}
		}
	}
	return partitionChange(t, p, leader, isr)
}

// partitionChange returns the record that gives p leader and isr, carrying
// only what changes; ok is false when nothing does.
func partitionChange(t *Topic, p Partition, leader int32, isr []int32) (partitionChangeRecord, bool) {
	r := partitionChangeRecord{TopicID: t.ID, Partition: p.ID, Leader: noLeaderChange}
	if leader != p.Leader {
		r.Leader = leader
	}
	if !slices.Equal(isr, p.ISR) {
		r.ISR = isr
	}
	return r, r.Leader != noLeaderChange || r.ISR != nil
}

// eachPartition calls fn for every partition, topics by name, and collects
// the changes it returns.
func eachPartition(im *Image, fn func(t *Topic, p Partition) (partitionChangeRecord, bool)) []record {
	var recs []record
	for _, t := range im.topicsByName() {
		for _, p := range t.Partitions {
			if r, ok := fn(t, p); ok {
				recs = append(recs, r)
			}
		}
	}
	return recs
}

// removeBroker returns the changes that take broker id out of every ISR
// (keeping each non-empty) and away from every leadership, as when it is
// fenced or enters controlled shutdown.
func removeBroker(im *Image, id int32) []record {
	acceptable := func(b int32) bool { return b != id && im.Acceptable(b) }
	return eachPartition(im, func(t *Topic, p Partition) (partitionChangeRecord, bool) {
		if p.Leader != id && !slices.Contains(p.ISR, id) {
			return partitionChangeRecord{}, false
		}
		return rebalance(t, p, id, acceptable)
	})
}

// electLeaderless returns the elections of every leaderless partition with
// broker id (being unfenced) counted as acceptable.
func electLeaderless(im *Image, id int32) []record {
	acceptable := func(b int32) bool { return b == id || im.Acceptable(b) }
	return eachPartition(im, func(t *Topic, p Partition) (partitionChangeRecord, bool) {
		if p.Leader != -1 {
			return partitionChangeRecord{}, false
		}
		return rebalance(t, p, -1, acceptable)
	})
}

// preferredChange returns the change making p's first replica (its
// preferred leader) the leader, if it is in the ISR and acceptable.
func preferredChange(im *Image, t *Topic, p Partition) (partitionChangeRecord, error) {
	preferred := p.Replicas[0]
	if p.Leader == preferred {
		return partitionChangeRecord{}, fmt.Errorf("topic %q partition %d: broker %d leads already: %w", t.Name, p.ID, preferred, kerr.ElectionNotNeeded)
	}
	if !slices.Contains(p.ISR, preferred) || !im.Acceptable(preferred) {
		return partitionChangeRecord{}, fmt.Errorf("topic %q partition %d: preferred leader %d is not an acceptable ISR member: %w",
			t.Name, p.ID, preferred, kerr.PreferredLeaderNotAvailable)
	}
	r, _ := partitionChange(t, p, preferred, p.ISR)
	return r, nil
}

// electPreferred returns the preferred-leader election of one partition
// (ElectLeaders with election type PREFERRED).
func electPreferred(im *Image, topic string, partition int32) ([]record, error) {
	t := im.Topic(topic)
	if t == nil || partition < 0 || int(partition) >= len(t.Partitions) {
		return nil, fmt.Errorf("topic %q partition %d: %w", topic, partition, ErrUnknownTopic)
	}
	r, err := preferredChange(im, t, t.Partitions[partition])
	if err != nil {
		return nil, err
	}
	return []record{r}, nil
}

// rebalanceLeaders returns the preferred-leader elections of every
// partition where one is possible (auto.leader.rebalance.enable).
func rebalanceLeaders(im *Image) []record {
	return eachPartition(im, func(t *Topic, p Partition) (partitionChangeRecord, bool) {
		r, err := preferredChange(im, t, p)
		return r, err == nil
	})
}

// AlterPartition is one partition of an AlterPartition request: the
// leader's proposed ISR.
type AlterPartition struct {
	BrokerID       int32 // the sender, which must lead the partition
	BrokerEpoch    int64
	TopicID        [16]byte
	Partition      int32
	LeaderEpoch    int32
	PartitionEpoch int32
	NewISR         []ISRMember
}

// ISRMember is a proposed ISR member with the broker epoch the leader saw
// it fetch with (-1: unknown, accepted).
type ISRMember struct {
	ID    int32
	Epoch int64
}

// alterPartition checks req against the image in Kafka's order (KIP-497,
// KIP-841; see cluster-notes §2) and returns the change that sets the new
// ISR, none if it is the ISR already. Leader recovery state and
// reassignments do not exist here, so those two checks are absent.
func alterPartition(im *Image, req AlterPartition) ([]record, error) {
	if b, ok := im.Broker(req.BrokerID); !ok || b.Epoch != req.BrokerEpoch {
		return nil, fmt.Errorf("alter partition: broker %d epoch %d: %w", req.BrokerID, req.BrokerEpoch, kerr.StaleBrokerEpoch)
	}
	t := im.TopicByID(req.TopicID)
	if t == nil || req.Partition < 0 || int(req.Partition) >= len(t.Partitions) {
		return nil, fmt.Errorf("alter partition: topic id %x partition %d: %w", req.TopicID, req.Partition, ErrUnknownTopic)
	}
	p := t.Partitions[req.Partition]
	where := fmt.Sprintf("alter partition: topic %q partition %d", t.Name, p.ID)
	switch {
	case req.LeaderEpoch > p.LeaderEpoch || req.PartitionEpoch > p.PartitionEpoch:
		return nil, fmt.Errorf("%s: epochs %d/%d are ahead of %d/%d: %w", where, req.LeaderEpoch, req.PartitionEpoch,
			p.LeaderEpoch, p.PartitionEpoch, kerr.NotController)
	case req.LeaderEpoch < p.LeaderEpoch:
		return nil, fmt.Errorf("%s: leader epoch %d, current %d: %w", where, req.LeaderEpoch, p.LeaderEpoch, kerr.FencedLeaderEpoch)
	case req.BrokerID != p.Leader:
		return nil, fmt.Errorf("%s: broker %d is not the leader %d: %w", where, req.BrokerID, p.Leader, kerr.InvalidRequest)
	case req.PartitionEpoch < p.PartitionEpoch:
		return nil, fmt.Errorf("%s: partition epoch %d, current %d: %w", where, req.PartitionEpoch, p.PartitionEpoch, kerr.InvalidUpdateVersion)
	}
	isr := make([]int32, 0, len(req.NewISR))
	for _, m := range req.NewISR {
		if !slices.Contains(p.Replicas, m.ID) || slices.Contains(isr, m.ID) {
			return nil, fmt.Errorf("%s: ISR member %d is not a replica of %v or repeated: %w", where, m.ID, p.Replicas, kerr.InvalidRequest)
		}
		isr = append(isr, m.ID)
	}
	if !slices.Contains(isr, p.Leader) {
		return nil, fmt.Errorf("%s: ISR %v lacks the leader %d: %w", where, isr, p.Leader, kerr.InvalidRequest)
	}
	for _, m := range req.NewISR {
		b, ok := im.Broker(m.ID)
		if !ok || b.Fenced || b.InControlledShutdown || (m.Epoch != -1 && m.Epoch != b.Epoch) {
			return nil, fmt.Errorf("%s: broker %d (epoch %d) is unregistered, fenced, shutting down or of another epoch: %w",
				where, m.ID, m.Epoch, kerr.IneligibleReplica)
		}
	}
	if r, ok := partitionChange(t, p, p.Leader, isr); ok {
		return []record{r}, nil
	}
	return nil, nil
}

package quorum

import (
	"errors"
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
// (unclean.leader.election.enable: the topic's override, else the cluster's
// dynamic default; false by default).
func uncleanElection(im *Image, t *Topic) bool {
	v, ok := t.Configs["unclean.leader.election.enable"]
	if !ok {
		v = im.ClusterConfigs["unclean.leader.election.enable"]
	}
	return strings.EqualFold(strings.TrimSpace(v), "true")
}

// rebalance returns the change that drops broker remove (-1: none) from
// p's ISR, keeping the ISR non-empty, and elects a leader if the current
// one is not acceptable: the first replica in assignment order that is in
// the ISR and acceptable; failing that, with unclean election on, the
// first acceptable replica with ISR = [it]; failing that, -1. ok is false
// when nothing changes.
func rebalance(im *Image, t *Topic, p Partition, remove int32, acceptable func(int32) bool) (partitionChangeRecord, bool) {
	return elect(t, p, remove, acceptable, uncleanElection(im, t))
}

// elect is rebalance with unclean election on or off whatever the topic
// says (ElectLeaders of type UNCLEAN forces it on).
func elect(t *Topic, p Partition, remove int32, acceptable func(int32) bool, unclean bool) (partitionChangeRecord, bool) {
	isr := p.ISR
	if slices.Contains(isr, remove) && len(isr) > 1 {
		isr = slices.DeleteFunc(slices.Clone(isr), func(id int32) bool { return id == remove })
	}
	leader := p.Leader
	if leader == -1 || !acceptable(leader) || !slices.Contains(isr, leader) {
		leader, isr = chooseLeader(p.Replicas, isr, acceptable, unclean)
	}
	return partitionChange(t, p, leader, isr)
}

// chooseLeader elects from replicas, in their order, the first that is in
// isr and acceptable; failing that, with unclean, the first acceptable one,
// whose ISR is then itself alone; failing that, -1. It returns the leader
// and the ISR that goes with it.
func chooseLeader(replicas, isr []int32, acceptable func(int32) bool, unclean bool) (int32, []int32) {
	inISR := func(id int32) bool { return slices.Contains(isr, id) && acceptable(id) }
	if i := slices.IndexFunc(replicas, inISR); i >= 0 {
		return replicas[i], isr
	}
	if i := slices.IndexFunc(replicas, acceptable); i >= 0 && unclean {
		return replicas[i], []int32{replicas[i]}
	}
	return -1, isr
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
		return rebalance(im, t, p, id, acceptable)
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
		return rebalance(im, t, p, -1, acceptable)
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

// Election types of ElectLeaders (KIP-460).
const (
	ElectPreferred int8 = 0 // make each partition's first replica its leader
	ElectUnclean   int8 = 1 // give a leaderless partition a leader, out of sync if need be
)

// ElectionResult is one partition's outcome of ElectLeaders: Err is nil
// when a new leader was elected, else it wraps the Kafka error it is
// (kerr.ElectionNotNeeded, kerr.PreferredLeaderNotAvailable,
// kerr.EligibleLeadersNotAvailable) or ErrUnknownTopic.
type ElectionResult struct {
	TopicPartition
	Err error
}

// electLeaders plans ElectLeaders as KRaft's ReplicationControlManager
// does: one election per named partition (each named once), or with
// partitions nil one per partition of the cluster, whose results leave out
// those that needed none.
func electLeaders(im *Image, electionType int8, partitions []TopicPartition) ([]record, []ElectionResult, error) {
	if electionType != ElectPreferred && electionType != ElectUnclean {
		return nil, nil, fmt.Errorf("%w: election type %d", kerr.InvalidRequest, electionType)
	}
	var recs []record
	var results []ElectionResult
	try := func(t *Topic, p Partition) error {
		r, err := electLeader(im, t, p, electionType)
		if err == nil {
			recs = append(recs, r)
		}
		return err
	}
	if partitions == nil {
		for _, t := range im.topicsByName() {
			for _, p := range t.Partitions {
				if err := try(t, p); !errors.Is(err, kerr.ElectionNotNeeded) {
					results = append(results, ElectionResult{TopicPartition{t.Name, p.ID}, err})
				}
			}
		}
		return recs, results, nil
	}
	seen := make(map[TopicPartition]bool, len(partitions))
	for _, tp := range partitions {
		if seen[tp] {
			continue
		}
		seen[tp] = true
		t := im.Topic(tp.Topic)
		var err error
		if t == nil || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
			err = fmt.Errorf("topic %q partition %d: %w", tp.Topic, tp.Partition, ErrUnknownTopic)
		} else {
			err = try(t, t.Partitions[tp.Partition])
		}
		results = append(results, ElectionResult{tp, err})
	}
	return recs, results, nil
}

// electLeader is the election of one partition: PREFERRED is not needed
// when the first replica leads, UNCLEAN when any replica does. PREFERRED
// elects the first replica if it is an acceptable ISR member, else, when
// the leader is not acceptable, the next one that is (Kafka's
// electPreferredLeader); UNCLEAN elects an acceptable ISR member, else
// the first acceptable replica, out of sync.
func electLeader(im *Image, t *Topic, p Partition, electionType int8) (partitionChangeRecord, error) {
	if electionType == ElectUnclean {
		if p.Leader != -1 {
			return partitionChangeRecord{}, fmt.Errorf("topic %q partition %d: broker %d leads: %w", t.Name, p.ID, p.Leader, kerr.ElectionNotNeeded)
		}
		if r, ok := elect(t, p, -1, im.Acceptable, true); ok && r.Leader >= 0 {
			return r, nil
		}
		return partitionChangeRecord{}, fmt.Errorf("topic %q partition %d: no replica of %v is alive: %w",
			t.Name, p.ID, p.Replicas, kerr.EligibleLeadersNotAvailable)
	}
	r, err := preferredChange(im, t, p)
	if errors.Is(err, kerr.PreferredLeaderNotAvailable) {
		if other, ok := rebalance(im, t, p, -1, im.Acceptable); ok && other.Leader >= 0 {
			return other, nil
		}
	}
	return r, err
}

// leaderImbalancePerBrokerPercent is Kafka's
// leader.imbalance.per.broker.percentage (its default, not configurable
// here).
const leaderImbalancePerBrokerPercent = 10

// rebalanceLeaders returns the preferred-leader elections of the automatic
// rebalance (auto.leader.rebalance.enable), by Kafka's rule: a broker's
// imbalance is the share of the partitions it is the preferred leader of
// that it does not lead; each broker above
// leader.imbalance.per.broker.percentage gets back those of them whose
// election is possible.
func rebalanceLeaders(im *Image) []record {
	preferred, notLed := map[int32]int{}, map[int32]int{}
	for _, t := range im.topicsByName() {
		for _, p := range t.Partitions {
			b := p.Replicas[0]
			preferred[b]++
			if p.Leader != b {
				notLed[b]++
			}
		}
	}
	return eachPartition(im, func(t *Topic, p Partition) (partitionChangeRecord, bool) {
		if b := p.Replicas[0]; notLed[b]*100 <= preferred[b]*leaderImbalancePerBrokerPercent {
			return partitionChangeRecord{}, false
		}
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
// ISR, none if it is the ISR already. An ISR that holds every replica a
// reassignment adds completes it (buildChange); moved reports that this
// moved leadership away from the sender, which Kafka answers with
// NEW_LEADER_ELECTED though the change is made. Leader recovery state does
// not exist here, so its check is absent.
func alterPartition(im *Image, req AlterPartition) (recs []record, moved bool, err error) {
	if b, ok := im.Broker(req.BrokerID); !ok || b.Epoch != req.BrokerEpoch {
		return nil, false, fmt.Errorf("alter partition: broker %d epoch %d: %w", req.BrokerID, req.BrokerEpoch, kerr.StaleBrokerEpoch)
	}
	t := im.TopicByID(req.TopicID)
	if t == nil || req.Partition < 0 || int(req.Partition) >= len(t.Partitions) {
		return nil, false, fmt.Errorf("alter partition: topic id %x partition %d: %w", req.TopicID, req.Partition, ErrUnknownTopic)
	}
	p := t.Partitions[req.Partition]
	where := fmt.Sprintf("alter partition: topic %q partition %d", t.Name, p.ID)
	switch {
	case req.LeaderEpoch > p.LeaderEpoch || req.PartitionEpoch > p.PartitionEpoch:
		return nil, false, fmt.Errorf("%s: epochs %d/%d are ahead of %d/%d: %w", where, req.LeaderEpoch, req.PartitionEpoch,
			p.LeaderEpoch, p.PartitionEpoch, kerr.NotController)
	case req.LeaderEpoch < p.LeaderEpoch:
		return nil, false, fmt.Errorf("%s: leader epoch %d, current %d: %w", where, req.LeaderEpoch, p.LeaderEpoch, kerr.FencedLeaderEpoch)
	case req.BrokerID != p.Leader:
		return nil, false, fmt.Errorf("%s: broker %d is not the leader %d: %w", where, req.BrokerID, p.Leader, kerr.InvalidRequest)
	case req.PartitionEpoch < p.PartitionEpoch:
		return nil, false, fmt.Errorf("%s: partition epoch %d, current %d: %w", where, req.PartitionEpoch, p.PartitionEpoch, kerr.InvalidUpdateVersion)
	}
	isr := make([]int32, 0, len(req.NewISR))
	for _, m := range req.NewISR {
		if !slices.Contains(p.Replicas, m.ID) || slices.Contains(isr, m.ID) {
			return nil, false, fmt.Errorf("%s: ISR member %d is not a replica of %v or repeated: %w", where, m.ID, p.Replicas, kerr.InvalidRequest)
		}
		isr = append(isr, m.ID)
	}
	if !slices.Contains(isr, p.Leader) {
		return nil, false, fmt.Errorf("%s: ISR %v lacks the leader %d: %w", where, isr, p.Leader, kerr.InvalidRequest)
	}
	for _, m := range req.NewISR {
		b, ok := im.Broker(m.ID)
		if !ok || b.Fenced || b.InControlledShutdown || (m.Epoch != -1 && m.Epoch != b.Epoch) {
			return nil, false, fmt.Errorf("%s: broker %d (epoch %d) is unregistered, fenced, shutting down or of another epoch: %w",
				where, m.ID, m.Epoch, kerr.IneligibleReplica)
		}
	}
	r, ok := buildChange(im, t, p, partitionTarget{replicas: p.Replicas, isr: isr, removing: p.Removing, adding: p.Adding})
	if !ok {
		return nil, false, nil
	}
	return []record{r}, r.Leader != noLeaderChange && r.Leader != req.BrokerID, nil
}

package quorum

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Partition reassignment (KIP-455) as KRaft's controller does it. Starting
// one sets the replicas to the target followed by the current replicas it
// drops (Removing), and records the target replicas not yet hosting the
// partition (Adding); the ISR and leader stay. Adding replicas fetch from
// the leader like any follower; the AlterPartition that brings the last of
// them into the ISR completes the reassignment: the replicas become the
// target, Removing leaves replicas and ISR, and the leader epoch bumps
// (so that removed replicas are fenced), with a new leader from the target
// when the leader is removed. A reassignment that adds nothing completes at
// once. Cancelling one reverts to the replicas before it (the current ones
// less Adding).

// Reassignment is one partition of AlterPartitionReassignments: its
// target replicas, or nil to cancel the reassignment in progress.
type Reassignment struct {
	TopicPartition
	Replicas []int32
}

// ReassignmentResult is one partition's outcome of
// AlterPartitionReassignments: Err is nil when the reassignment was started,
// changed, completed or cancelled, else it wraps the Kafka error it is
// (kerr.InvalidReplicaAssignment, kerr.NoReassignmentInProgress,
// kerr.InvalidRequest), ErrUnknownTopic or ErrPolicyViolation.
type ReassignmentResult struct {
	TopicPartition
	Err error
}

// alterPartitionReassignments plans AlterPartitionReassignments: one change
// per partition, each planned against im (a partition named twice is
// refused the second time), and each partition's result in request order.
// A target that would put more replicas on a broker than it may host
// (topics.max_partitions_per_broker, counting the request's earlier
// partitions) is refused with POLICY_VIOLATION.
func (pl *planner) alterPartitionReassignments(im *Image, reqs []Reassignment) ([]record, []ReassignmentResult) {
	var recs []record
	results := make([]ReassignmentResult, 0, len(reqs))
	seen := make(map[TopicPartition]bool, len(reqs))
	added := map[int32]int{} // replicas the request's changes so far add to each broker
	for _, rq := range reqs {
		err := func() error {
			if seen[rq.TopicPartition] {
				return fmt.Errorf("topic %q partition %d: named twice: %w", rq.Topic, rq.Partition, kerr.InvalidRequest)
			}
			seen[rq.TopicPartition] = true
			t := im.Topic(rq.Topic)
			if t == nil || rq.Partition < 0 || int(rq.Partition) >= len(t.Partitions) {
				return fmt.Errorf("topic %q partition %d: %w", rq.Topic, rq.Partition, ErrUnknownTopic)
			}
			p := t.Partitions[rq.Partition]
			var r partitionChangeRecord
			var ok bool
			var err error
			if rq.Replicas == nil {
				r, ok, err = cancelReassignment(im, t, p)
			} else {
				r, ok, err = reassign(im, t, p, rq.Replicas)
				if err == nil {
					err = pl.checkAdded(im, t, p, r, added)
				}
			}
			if ok && err == nil {
				recs = append(recs, r)
			}
			return err
		}()
		results = append(results, ReassignmentResult{rq.TopicPartition, err})
	}
	return recs, results
}

// reassign starts (or changes) p's reassignment to target: every target
// replica a registered broker, none twice, at least one.
func reassign(im *Image, t *Topic, p Partition, target []int32) (partitionChangeRecord, bool, error) {
	where := fmt.Sprintf("topic %q partition %d", t.Name, p.ID)
	if err := checkReplicaList(target); err != nil {
		return partitionChangeRecord{}, false, fmt.Errorf("%s: %w: %w", where, err, kerr.InvalidReplicaAssignment)
	}
	for _, id := range target {
		if _, ok := im.Broker(id); !ok {
			return partitionChangeRecord{}, false, fmt.Errorf("%s: broker %d is not registered: %w", where, id, kerr.InvalidReplicaAssignment)
		}
	}
	// As KRaft, the target is compared with the current replicas (those
	// of a reassignment in progress included): the rest of them are
	// removing, the target replicas not among them adding. Unlike KRaft,
	// a target replica that an earlier reassignment is still adding stays
	// adding (KRaft keeps the earlier adding set when the new one is
	// empty, which can leave a replica both adding and removing): a
	// reassignment completes only once every replica new since the last
	// completed one is in the ISR.
	removing := sortedDifference(p.Replicas, target)
	adding := sortedDifference(target, without(p.Replicas, p.Adding))
	tg := partitionTarget{replicas: append(slices.Clone(target), removing...), isr: p.ISR, removing: removing, adding: adding}
	r, ok := buildChange(im, t, p, tg)
	return r, ok, nil
}

// checkAdded refuses change r of p when the replicas it adds would put more
// replicas on a broker than it may host, and otherwise counts them in
// added.
func (pl *planner) checkAdded(im *Image, t *Topic, p Partition, r partitionChangeRecord, added map[int32]int) error {
	if r.Replicas == nil {
		return nil
	}
	more := without(r.Replicas, p.Replicas)
	for _, id := range more {
		if have := im.brokerReplicas[id] + added[id]; have+1 > pl.brokerPartitionsMax {
			return fmt.Errorf("topic %q partition %d: broker %d hosts %d partitions, the most allowed (topics.max_partitions_per_broker): %w",
				t.Name, p.ID, id, have, ErrPolicyViolation)
		}
	}
	for _, id := range more {
		added[id]++
	}
	return nil
}

// cancelReassignment reverts p to its replicas before the reassignment in
// progress: the adding replicas leave replicas and ISR. When no original
// replica is in the ISR that takes an unclean election, refused unless the
// topic allows one.
func cancelReassignment(im *Image, t *Topic, p Partition) (partitionChangeRecord, bool, error) {
	where := fmt.Sprintf("topic %q partition %d", t.Name, p.ID)
	if !p.Reassigning() {
		return partitionChangeRecord{}, false, fmt.Errorf("%s: %w", where, kerr.NoReassignmentInProgress)
	}
	replicas, isr := without(p.Replicas, p.Adding), without(p.ISR, p.Adding)
	if len(isr) == 0 {
		if !uncleanElection(im, t) {
			return partitionChangeRecord{}, false, fmt.Errorf("%s: every ISR member %v is being added; reverting needs an unclean election, which the topic does not allow: %w",
				where, p.ISR, kerr.InvalidReplicaAssignment)
		}
		isr = replicas[:1]
	}
	r, ok := buildChange(im, t, p, partitionTarget{replicas: replicas, isr: isr, removing: []int32{}, adding: []int32{}})
	return r, ok, nil
}

// partitionTarget is what a change asks of a partition's replicas, ISR and
// reassignment; buildChange makes it a record.
type partitionTarget struct {
	replicas, isr, removing, adding []int32
}

// buildChange returns the record that takes p to tg, as KRaft's
// PartitionChangeBuilder: a reassignment whose adding replicas are all in
// the ISR completes (unless no ISR member would be left); a leader that is
// gone from the replicas or ISR, or no longer acceptable, is replaced
// (chooseLeader); removing replicas bumps the leader epoch even when the
// leader stays. ok is false when nothing changes.
func buildChange(im *Image, t *Topic, p Partition, tg partitionTarget) (partitionChangeRecord, bool) {
	if len(tg.removing)+len(tg.adding) > 0 && len(without(tg.adding, tg.isr)) == 0 {
		if isr := without(tg.isr, tg.removing); len(isr) > 0 {
			tg.replicas, tg.isr = without(tg.replicas, tg.removing), isr
			tg.removing, tg.adding = []int32{}, []int32{}
		}
	}
	leader, isr := p.Leader, tg.isr
	if leader == -1 || !slices.Contains(tg.replicas, leader) || !slices.Contains(isr, leader) || !im.Acceptable(leader) {
		leader, isr = chooseLeader(tg.replicas, isr, im.Acceptable, uncleanElection(im, t))
	}
	r := partitionChangeRecord{TopicID: t.ID, Partition: p.ID, Leader: noLeaderChange}
	if leader != p.Leader || len(without(p.Replicas, tg.replicas)) > 0 {
		r.Leader = leader
	}
	if !slices.Equal(isr, p.ISR) {
		r.ISR = isr
	}
	if !slices.Equal(tg.replicas, p.Replicas) {
		r.Replicas = tg.replicas
	}
	if !slices.Equal(tg.removing, p.Removing) {
		r.Removing = tg.removing
	}
	if !slices.Equal(tg.adding, p.Adding) {
		r.Adding = tg.adding
	}
	return r, r.Leader != noLeaderChange || r.ISR != nil || r.reassigns()
}

// without returns the members of a not in b, in a's order (a new slice).
func without(a, b []int32) []int32 {
	out := make([]int32, 0, len(a))
	for _, id := range a {
		if !slices.Contains(b, id) {
			out = append(out, id)
		}
	}
	return out
}

// sortedDifference is without(a, b) sorted, as KRaft orders a
// reassignment's adding and removing replicas.
func sortedDifference(a, b []int32) []int32 {
	d := without(a, b)
	slices.Sort(d)
	return d
}

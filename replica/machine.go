package replica

import (
	"fmt"
	"slices"
	"time"

	"github.com/riffle/riffle/internal/ids"
)

// action is an output of the machine, taken by the Partition shell after
// each event.
type action interface{ isAction() }

// hwMoved says HW changed (advanced on a leader; set from the leader's HW,
// or clamped by a truncation, on a follower).
type hwMoved struct{ hw ids.Offset }

// proposeISR asks the shell to send an AlterPartition.
type proposeISR struct{ prop ISRProposal }

// roleChanged says leadership was gained or lost: waiting acks=all produces
// re-check.
type roleChanged struct{}

func (hwMoved) isAction()     {}
func (proposeISR) isAction()  {}
func (roleChanged) isAction() {}

// pendingKind is the ISR change in flight (KIP-497: one at a time).
type pendingKind int8

const (
	pendingNone pendingKind = iota
	pendingExpand
	pendingShrink
)

// followerState is what the leader knows of a follower from its fetches
// (Kafka's Replica.ReplicaState).
type followerState struct {
	leo                ids.Offset // -1: unknown until it fetches
	lastFetchLeaderLEO ids.Offset // the leader's LEO at its previous fetch
	lastFetch          time.Time
	lastCaughtUp       time.Time // zero: never
	brokerEpoch        int64     // of its last fetch, -1 unknown
	eligible           bool      // KIP-841, as of its last fetch
}

// machine is one partition's replication rules without I/O: the leader's
// ISR maintenance and HW, a follower's HW. Events come in as method calls
// with the time passed in; actions come out through take. Not safe for
// concurrent use: the Partition calls it under its lock.
type machine struct {
	self      ids.NodeID
	topic     string
	partition int32
	minISR    int // min.insync.replicas
	lagMax    time.Duration

	leader         bool
	leaderID       ids.NodeID // the leader followed (NoNode: none); self when leading
	epoch          ids.Epoch  // leader epoch, NoEpoch before any role
	partitionEpoch int32

	// Leader state.
	epochStart ids.Offset // LEO when this leader epoch began
	replicas   []ids.NodeID
	isr        []ids.NodeID // committed
	pending    pendingKind
	proposal   ISRProposal // the change in flight, when pending
	followers  map[ids.NodeID]*followerState
	now        time.Time // latest time an event carried

	leo, hw, logStart ids.Offset
	out               []action
}

func newMachine(self ids.NodeID, topic string, partition int32, minISR int, lagMax time.Duration, leo, hw, logStart ids.Offset) *machine {
	return &machine{self: self, topic: topic, partition: partition, minISR: minISR, lagMax: lagMax,
		leaderID: ids.NoNode, epoch: ids.NoEpoch, leo: leo, hw: hw, logStart: logStart}
}

// take returns the actions since the last take.
func (m *machine) take() []action {
	out := m.out
	m.out = nil
	return out
}

// becomeLeader takes leadership at l.Epoch with the log at leo. A new epoch
// resets the followers (ISR members caught up now, others never; LEOs
// unknown unless this replica already led); the same epoch while leading
// only adopts the replicas and the committed ISR.
func (m *machine) becomeLeader(l Leadership, leo ids.Offset, now time.Time) error {
	if l.Epoch < m.epoch {
		return fmt.Errorf("%w: become leader in epoch %d, replica is in epoch %d", ErrFencedLeaderEpoch, l.Epoch, m.epoch)
	}
	newEpoch := !m.leader || l.Epoch > m.epoch
	wasLeader := m.leader
	m.now, m.leo = now, leo
	old := m.followers
	m.followers = make(map[ids.NodeID]*followerState, len(l.Replicas))
	for _, id := range l.Replicas {
		if id == m.self {
			continue
		}
		f := old[id]
		switch {
		case f == nil || (newEpoch && !wasLeader):
			f = &followerState{leo: -1, lastFetchLeaderLEO: -1, brokerEpoch: -1}
			if slices.Contains(l.ISR, id) {
				f.lastCaughtUp = now
			}
		case newEpoch:
			// Kafka's resetReplicaState for a re-elected leader: the LEO
			// stays, the lag clock restarts.
			f.lastCaughtUp, f.lastFetch, f.lastFetchLeaderLEO = time.Time{}, now, leo
			if slices.Contains(l.ISR, id) {
				f.lastCaughtUp = now
			}
		}
		m.followers[id] = f
	}
	if newEpoch {
		m.epochStart = leo
	}
	m.leader, m.leaderID, m.epoch = true, m.self, l.Epoch
	m.replicas = slices.Clone(l.Replicas)
	if newEpoch || l.PartitionEpoch >= m.partitionEpoch {
		m.isr, m.partitionEpoch, m.pending = slices.Clone(l.ISR), l.PartitionEpoch, pendingNone
	}
	if newEpoch {
		m.out = append(m.out, roleChanged{})
	}
	m.maybeIncrementHW()
	return nil
}

// becomeFollower follows leader at epoch; a leader stops leading.
func (m *machine) becomeFollower(leader ids.NodeID, epoch ids.Epoch, partitionEpoch int32) error {
	if epoch < m.epoch {
		return fmt.Errorf("%w: follow in epoch %d, replica is in epoch %d", ErrFencedLeaderEpoch, epoch, m.epoch)
	}
	wasLeader := m.leader
	m.leader, m.leaderID, m.epoch, m.partitionEpoch = false, leader, epoch, partitionEpoch
	m.replicas, m.isr, m.followers, m.pending = nil, nil, nil, pendingNone
	if wasLeader {
		m.out = append(m.out, roleChanged{})
	}
	return nil
}

// appended records the local LEO after an append.
func (m *machine) appended(leo ids.Offset) {
	m.leo = leo
	m.maybeIncrementHW()
}

// fetch is a follower's fetch as the leader served it.
type fetch struct {
	replica     ids.NodeID
	epoch       ids.Epoch // the leader epoch it was served in
	brokerEpoch int64
	eligible    bool       // Options.Eligible(replica, brokerEpoch)
	offset      ids.Offset // its fetch offset: its LEO
	leaderLEO   ids.Offset // sampled before the read
	now         time.Time
}

// followerFetched records a follower's LEO (Kafka's updateFetchState), then
// may propose an expansion and advance HW. A fetch served in an earlier
// epoch, or by a replica that no longer leads, is ignored.
func (m *machine) followerFetched(f fetch) {
	st := m.followers[f.replica]
	if !m.leader || f.epoch != m.epoch || st == nil {
		return
	}
	m.now = f.now
	switch {
	case f.offset >= f.leaderLEO:
		st.lastCaughtUp = later(st.lastCaughtUp, f.now)
	case f.offset >= st.lastFetchLeaderLEO:
		st.lastCaughtUp = later(st.lastCaughtUp, st.lastFetch)
	}
	st.leo, st.lastFetchLeaderLEO, st.lastFetch = f.offset, f.leaderLEO, f.now
	st.brokerEpoch, st.eligible = f.brokerEpoch, f.eligible
	m.maybeExpand(f.replica, st)
	m.maybeIncrementHW()
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// caughtUp is Kafka's Replica.isCaughtUp.
func (m *machine) caughtUp(st *followerState) bool {
	return st.leo == m.leo || (!st.lastCaughtUp.IsZero() && m.now.Sub(st.lastCaughtUp) <= m.lagMax)
}

// maybeExpand proposes adding a follower that reached HW and the start of
// this leader epoch, when no change is in flight and it may join (KIP-841).
func (m *machine) maybeExpand(id ids.NodeID, st *followerState) {
	if m.pending != pendingNone || slices.Contains(m.isr, id) || !st.eligible ||
		st.leo < m.hw || st.leo < m.epochStart {
		return
	}
	m.propose(pendingExpand, append(slices.Clone(m.isr), id))
}

// tick proposes removing ISR followers that are not caught up.
func (m *machine) tick(now time.Time) {
	if !m.leader {
		return
	}
	m.now = now
	if m.pending != pendingNone {
		return
	}
	keep := slices.DeleteFunc(slices.Clone(m.isr), func(id ids.NodeID) bool {
		st := m.followers[id]
		return id != m.self && (st == nil || !m.caughtUp(st))
	})
	if len(keep) < len(m.isr) {
		m.propose(pendingShrink, keep)
	}
	// Time moving can make a caught-up outsider stop holding HW back.
	m.maybeIncrementHW()
}

func (m *machine) propose(kind pendingKind, isr []ids.NodeID) {
	members := make([]ISRMember, len(isr))
	for i, id := range isr {
		members[i] = ISRMember{ID: id, BrokerEpoch: -1}
		if st := m.followers[id]; st != nil {
			members[i].BrokerEpoch = st.brokerEpoch
		}
	}
	m.pending = kind
	m.proposal = ISRProposal{Topic: m.topic, Partition: m.partition, LeaderEpoch: m.epoch,
		PartitionEpoch: m.partitionEpoch, ISR: members}
	m.out = append(m.out, proposeISR{m.proposal})
}

// isrCommitted adopts an ISR the controller committed (from the image),
// ending any change in flight; an older partition epoch is ignored.
func (m *machine) isrCommitted(isr []ids.NodeID, partitionEpoch int32, now time.Time) {
	if partitionEpoch <= m.partitionEpoch {
		return
	}
	m.partitionEpoch = partitionEpoch
	if !m.leader {
		return
	}
	m.now = now
	m.isr, m.pending = slices.Clone(isr), pendingNone
	m.maybeIncrementHW()
}

// isrRejected ends the change in flight if prop is it: the committed ISR
// stands.
func (m *machine) isrRejected(prop ISRProposal) {
	if m.pending == pendingNone || prop.LeaderEpoch != m.proposal.LeaderEpoch ||
		prop.PartitionEpoch != m.proposal.PartitionEpoch || !slices.Equal(prop.ISR, m.proposal.ISR) {
		return
	}
	m.pending = pendingNone
}

// maximalISR is the committed ISR plus a member being added; a shrink in
// flight is never assumed to succeed.
func (m *machine) maximalISR() []ids.NodeID {
	if m.pending == pendingExpand {
		return m.proposal.memberIDs()
	}
	return m.isr
}

func (p ISRProposal) memberIDs() []ids.NodeID {
	out := make([]ids.NodeID, len(p.ISR))
	for i, mb := range p.ISR {
		out[i] = mb.ID
	}
	return out
}

// enoughReplicas reports whether an acks=all append may proceed.
func (m *machine) enoughReplicas() bool { return len(m.isr) >= m.minISR }

// setLagMax applies a new replica.lag.time.max.ms; the next tick judges
// the followers by it.
func (m *machine) setLagMax(d time.Duration) { m.lagMax = d }

// setMinISR applies a new min.insync.replicas.
func (m *machine) setMinISR(n int) {
	m.minISR = n
	m.maybeIncrementHW()
}

// maybeIncrementHW is Kafka's maybeIncrementLeaderHW: no advance while the
// committed ISR is below min(min.insync.replicas, replication factor);
// otherwise HW rises to the smallest LEO of the leader, the maximal ISR,
// and followers caught up and eligible but not in it yet.
func (m *machine) maybeIncrementHW() {
	if !m.leader || len(m.isr) < min(m.minISR, len(m.replicas)) {
		return
	}
	maximal := m.maximalISR()
	hw := m.leo
	for id, st := range m.followers {
		if st.leo < hw && (slices.Contains(maximal, id) || (st.eligible && m.caughtUp(st))) {
			hw = st.leo
		}
	}
	if hw > m.hw {
		m.hw = hw
		m.out = append(m.out, hwMoved{hw})
	}
}

// replicated is an acks=all produce's check (Kafka's
// checkEnoughReplicasReachOffset) for a record ending before required,
// appended in leader epoch epoch: done once HW covers it or leadership
// changed.
func (m *machine) replicated(epoch ids.Epoch, required ids.Offset) (done bool, err error) {
	switch {
	case !m.leader || m.epoch != epoch:
		return true, fmt.Errorf("%w: leadership of epoch %d lost", ErrNotLeader, epoch)
	case m.hw < required:
		return false, nil
	case len(m.maximalISR()) < m.minISR:
		return true, fmt.Errorf("%w: ISR has %d replicas, min.insync.replicas is %d",
			ErrNotEnoughReplicasAfterAppend, len(m.maximalISR()), m.minISR)
	}
	return true, nil
}

// leaderHW sets a follower's HW from its leader's: min(leader HW, LEO),
// never below the log start.
func (m *machine) leaderHW(hw ids.Offset) {
	m.setHW(max(min(hw, m.leo), m.logStart))
}

// truncated records a follower's log after a truncation: HW is clamped.
func (m *machine) truncated(leo, logStart ids.Offset) {
	m.leo, m.logStart = leo, logStart
	m.setHW(max(min(m.hw, leo), logStart))
}

// logStartMoved records a new log start (retention, a restart).
func (m *machine) logStartMoved(logStart ids.Offset) {
	m.logStart = logStart
	if m.hw < logStart {
		m.setHW(logStart)
	}
}

func (m *machine) setHW(hw ids.Offset) {
	if hw != m.hw {
		m.hw = hw
		m.out = append(m.out, hwMoved{hw})
	}
}

// truncationOffset is where a follower truncates after the leader answered
// its fetch with DivergingEpoch d (Kafka's
// AbstractFetcherThread.getOffsetTruncationState). own is the follower's
// own end offset for d.Epoch (segment.Log.EndOffsetForEpoch: (-1, -1) when
// it knows no epoch that high). done is false when the follower must ask
// again with its new last epoch.
func truncationOffset(d EpochEnd, own EpochEnd, hw, leo ids.Offset) (offset ids.Offset, done bool) {
	switch {
	case d.EndOffset < 0:
		return min(hw, leo), true
	case d.Epoch < 0:
		return min(d.EndOffset, leo), true
	case own.EndOffset < 0:
		return min(d.EndOffset, leo), true
	case own.Epoch != d.Epoch:
		return min(own.EndOffset, leo), false
	default:
		return min(own.EndOffset, d.EndOffset, leo), true
	}
}

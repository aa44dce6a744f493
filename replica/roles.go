package replica

// The replication API the replica manager (daemon/replicas) and the Kafka
// layer (daemon/kafka) call: role changes, the leader's side of follower
// fetches and ISR maintenance, acks=all waits. The follower's side is in
// follower.go.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/segment"
)

// Leadership is what the metadata image says of a partition this broker
// leads.
type Leadership struct {
	Epoch          ids.Epoch
	PartitionEpoch int32
	Replicas       []ids.NodeID
	ISR            []ids.NodeID // committed ISR
}

// ISRMember is a proposed ISR member with the broker epoch it fetched with
// (-1: unknown; the controller accepts it).
type ISRMember struct {
	ID          ids.NodeID
	BrokerEpoch int64
}

// ISRProposal is an AlterPartition the leader wants sent (KIP-497): one in
// flight per partition; the committed result comes back through UpdateISR
// (from the image), a refusal through ISRRejected.
type ISRProposal struct {
	Topic          string
	Partition      int32
	LeaderEpoch    ids.Epoch
	PartitionEpoch int32
	ISR            []ISRMember
}

// FollowerFetch is one partition of a follower's Fetch.
type FollowerFetch struct {
	Replica            ids.NodeID
	BrokerEpoch        int64     // -1 when the fetch does not carry it (Fetch < v15)
	CurrentLeaderEpoch ids.Epoch // NoEpoch: unchecked
	FetchOffset        ids.Offset
	LastFetchedEpoch   ids.Epoch // NoEpoch: no divergence check (Fetch < v12)
	MaxBytes           int32
	MinOneBatch        bool
}

// EpochEnd is a leader epoch and the offset it ends at: a DivergingEpoch
// in a Fetch response, an OffsetForLeaderEpoch answer.
type EpochEnd struct {
	Epoch     ids.Epoch
	EndOffset ids.Offset
}

// FollowerRead is the leader's answer to a FollowerFetch: records up to LEO
// with HW and log start sampled before the read, or Diverging (no records)
// when the follower's log diverges from the leader's at FetchOffset.
type FollowerRead struct {
	ReadResult
	Diverging *EpochEnd
}

// BecomeLeader makes this replica the leader at l.Epoch (KIP-279: the epoch
// starts at LEO before any append). Followers in l.ISR count as caught up
// now, others not; their LEOs are unknown until they fetch. Called again in
// the same epoch it only adopts l's replicas and ISR. An epoch below the
// replica's or its log's fails with ErrFencedLeaderEpoch.
func (p *Partition) BecomeLeader(l Leadership, now time.Time) error {
	return p.event(func() error { return p.becomeLeaderLocked(l, now) })
}

func (p *Partition) becomeLeaderLocked(l Leadership, now time.Time) error {
	if p.closed {
		return p.wrap(ErrClosed)
	}
	if !slices.Contains(l.ISR, ids.NodeID(p.opts.NodeID)) {
		return p.wrap(fmt.Errorf("%w: leading with ISR %v without node %d", ErrInvalidOptions, l.ISR, p.opts.NodeID))
	}
	// Checked before the epoch cache changes: both must not go back.
	if latest := max(p.log.LatestEpoch(), int32(p.m.epoch)); int32(l.Epoch) < latest {
		return p.wrap(fmt.Errorf("%w: leading in epoch %d, the replica has epoch %d", ErrFencedLeaderEpoch, l.Epoch, latest))
	}
	leo := p.log.LogEndOffset()
	if err := p.log.AssignEpochStart(int32(l.Epoch), leo); err != nil {
		return p.wrap(err)
	}
	if err := p.m.becomeLeader(l, ids.Offset(leo), now); err != nil {
		return p.wrap(err)
	}
	p.epoch.Store(int32(l.Epoch))
	p.leading.Store(true)
	return nil
}

// BecomeFollower makes this replica follow leader (NoNode: leaderless) at
// epoch. acks=all produces waiting on it end with ErrNotLeader.
func (p *Partition) BecomeFollower(leader ids.NodeID, epoch ids.Epoch, partitionEpoch int32) error {
	return p.event(func() error {
		if err := p.m.becomeFollower(leader, epoch, partitionEpoch); err != nil {
			return p.wrap(err)
		}
		p.epoch.Store(int32(epoch))
		p.leading.Store(false)
		return nil
	})
}

// IsLeader reports whether this replica leads.
func (p *Partition) IsLeader() bool { return p.leading.Load() }

// UpdateISR adopts a committed ISR from the image at the same leader epoch
// (ignored when partitionEpoch is not newer).
func (p *Partition) UpdateISR(isr []ids.NodeID, partitionEpoch int32, now time.Time) {
	_ = p.event(func() error { p.m.isrCommitted(isr, partitionEpoch, now); return nil })
}

// ISRRejected ends the pending proposal the controller refused
// (INELIGIBLE_REPLICA and the like): the committed ISR stands.
func (p *Partition) ISRRejected(prop ISRProposal) {
	_ = p.event(func() error { p.m.isrRejected(prop); return nil })
}

// Tick proposes removing ISR followers that have not caught up within
// replica.lag.time.max.ms.
func (p *Partition) Tick(now time.Time) {
	_ = p.event(func() error { p.m.tick(now); return nil })
}

// ReadForFollower serves a follower's fetch on the leader: epoch check,
// divergence check (KIP-320), records up to LEO; it records the follower's
// LEO (FetchOffset) unless diverging, which may advance HW or propose an
// ISR expansion.
func (p *Partition) ReadForFollower(f FollowerFetch, now time.Time) (FollowerRead, error) {
	eligible := p.opts.Eligible == nil || p.opts.Eligible(f.Replica, f.BrokerEpoch)
	p.mu.Lock()
	epoch, leo, div, err := p.checkFollowerFetchLocked(f)
	hw := p.highWatermark.Load()
	p.mu.Unlock()
	if err != nil {
		return FollowerRead{}, err
	}
	logStart := p.log.LogStartOffset()
	res := ReadResult{HighWatermark: hw, LastStable: hw, LogStartOffset: logStart}
	if div != nil {
		return FollowerRead{ReadResult: res, Diverging: div}, nil
	}
	if res.Region, err = p.log.Read(int64(f.FetchOffset), f.MaxBytes, int64(leo), f.MinOneBatch); err != nil {
		return FollowerRead{}, p.wrap(fmt.Errorf("follower %d read at offset %d: %w", f.Replica, f.FetchOffset, err))
	}
	p.mu.Lock()
	if !p.m.leader || p.m.epoch != epoch {
		// Leadership moved during the read: the log may have been
		// truncated under it.
		p.mu.Unlock()
		res.Region.Release()
		return FollowerRead{}, p.wrap(fmt.Errorf("%w: leadership of epoch %d lost during a follower read", ErrNotLeader, epoch))
	}
	p.m.followerFetched(fetch{replica: f.Replica, epoch: epoch, brokerEpoch: f.BrokerEpoch, eligible: eligible,
		offset: f.FetchOffset, leaderLEO: leo, now: now})
	eff := p.takeLocked()
	p.mu.Unlock()
	p.apply(eff)
	return FollowerRead{ReadResult: res}, nil
}

// checkFollowerFetchLocked validates a follower fetch (Kafka's
// Partition.fetchRecords and readRecords) and samples LEO; div is set when
// the follower's log diverges at FetchOffset.
func (p *Partition) checkFollowerFetchLocked(f FollowerFetch) (ids.Epoch, ids.Offset, *EpochEnd, error) {
	if p.closed {
		return 0, 0, nil, p.wrap(ErrClosed)
	}
	if err := p.CheckLeaderEpoch(int32(f.CurrentLeaderEpoch)); err != nil {
		return 0, 0, nil, err
	}
	if !p.m.leader {
		return 0, 0, nil, p.wrap(fmt.Errorf("%w: fetch from follower %d", ErrNotLeader, f.Replica))
	}
	if _, ok := p.m.followers[f.Replica]; !ok {
		notReplica := ErrNotLeader
		if f.CurrentLeaderEpoch != ids.NoEpoch {
			notReplica = ErrUnknownLeaderEpoch
		}
		return 0, 0, nil, p.wrap(fmt.Errorf("%w: broker %d is not a follower (replicas %v)", notReplica, f.Replica, p.m.replicas))
	}
	leo := ids.Offset(p.log.LogEndOffset())
	if f.LastFetchedEpoch == ids.NoEpoch {
		return p.m.epoch, leo, nil, nil
	}
	e, o := p.log.EndOffsetForEpoch(int32(f.LastFetchedEpoch))
	logStart := ids.Offset(p.log.LogStartOffset())
	switch {
	case o < 0 || e < 0:
		return 0, 0, nil, p.wrap(fmt.Errorf("%w: no end offset for follower %d's last fetched epoch %d",
			segment.ErrOffsetOutOfRange, f.Replica, f.LastFetchedEpoch))
	case f.FetchOffset < logStart:
		return 0, 0, nil, p.wrap(fmt.Errorf("%w: follower %d fetches at %d below log start %d",
			segment.ErrOffsetOutOfRange, f.Replica, f.FetchOffset, logStart))
	case ids.Epoch(e) < f.LastFetchedEpoch || ids.Offset(o) < f.FetchOffset:
		return p.m.epoch, leo, &EpochEnd{Epoch: ids.Epoch(e), EndOffset: ids.Offset(o)}, nil
	}
	return p.m.epoch, leo, nil, nil
}

// WatchEnd is Watch for LEO moves (follower long polls).
func (p *Partition) WatchEnd(ch chan<- struct{}) (cancel func()) { return p.endWatch.add(ch) }

// WaitReplicated waits, for an acks=all produce, until HW >= required: nil;
// ErrNotEnoughReplicasAfterAppend when the ISR is below min.insync.replicas
// at that moment; ErrNotLeader when leadership is lost (or the leader epoch
// changed); ErrClosed on Close; ctx's error (the request timeout)
// otherwise. The leader epoch is that at the call: call it
// right after the append.
func (p *Partition) WaitReplicated(ctx context.Context, required ids.Offset) error {
	return p.WaitReplicatedUntil(ctx, time.Time{}, required)
}

// WaitReplicatedUntil is WaitReplicated that also gives up at deadline
// (none when zero) with context.DeadlineExceeded. Its timer is made only
// when the wait blocks: most waits are over at the call (RF=1, followers
// caught up), and a context with a deadline per produce request cost 3%
// of the broker's CPU at 40,000 requests/s.
func (p *Partition) WaitReplicatedUntil(ctx context.Context, deadline time.Time, required ids.Offset) error {
	p.mu.Lock()
	epoch := p.m.epoch
	p.mu.Unlock()
	var timeout <-chan time.Time
	for {
		p.mu.Lock()
		done, err := p.m.replicated(epoch, required)
		if p.closed {
			done, err = true, ErrClosed
		}
		changed := p.changed
		p.mu.Unlock()
		if done {
			if err != nil {
				return p.wrap(err)
			}
			return nil
		}
		if timeout == nil && !deadline.IsZero() {
			t := time.NewTimer(time.Until(deadline))
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return p.wrap(fmt.Errorf("waiting for HW %d: %w", required, ctx.Err()))
		case <-timeout:
			return p.wrap(fmt.Errorf("waiting for HW %d: %w", required, context.DeadlineExceeded))
		}
	}
}

// event runs fn, which feeds the machine, under mu, then carries out the
// machine's actions; it returns fn's error.
func (p *Partition) event(fn func() error) error {
	p.mu.Lock()
	err := fn()
	eff := p.takeLocked()
	p.mu.Unlock()
	p.apply(eff)
	return err
}

// effects is what the shell does after a machine event, outside mu.
type effects struct {
	hwMoved, roleChanged, leoMoved bool
	proposals                      []ISRProposal
}

// takeLocked applies the machine's actions that need mu (publishing HW and
// waking WaitReplicated) and returns the rest.
func (p *Partition) takeLocked() effects {
	var eff effects
	wake := false
	for _, a := range p.m.take() {
		switch a := a.(type) {
		case hwMoved:
			p.highWatermark.Store(int64(a.hw))
			eff.hwMoved, wake = true, true
		case roleChanged:
			eff.roleChanged, wake = true, true
		case proposeISR:
			eff.proposals = append(eff.proposals, a.prop)
		}
	}
	if wake {
		close(p.changed)
		p.changed = make(chan struct{})
	}
	return eff
}

// apply wakes watchers and sends ISR proposals; mu must not be held. A
// role change wakes every long poll, to answer it in the new role.
func (p *Partition) apply(eff effects) {
	if eff.hwMoved || eff.roleChanged {
		p.hwWatch.notify()
	}
	if eff.leoMoved || eff.roleChanged {
		p.endWatch.notify()
	}
	for _, prop := range eff.proposals {
		if p.opts.ProposeISR != nil {
			p.opts.ProposeISR(prop)
		}
	}
}

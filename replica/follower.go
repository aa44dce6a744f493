package replica

import (
	"errors"
	"fmt"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/segment"
)

// The follower's side of replication: appending what the leader sent,
// the position of the next fetch, HW from the leader, truncation.

// AppendAsFollower appends batches as the leader sent them (offsets and
// epochs assigned; validated where they entered, segment.ValidateBatches;
// the first must start at LEO) and records their producer state. On an
// error the batches before the failing one stay appended. As on the leader,
// an fdatasync the log asks for is awaited after the append lock is
// released, once for all the batches, and the machine's LEO moves after it.
func (p *Partition) AppendAsFollower(batches []segment.Batch) error {
	p.mu.Lock()
	n, sync, err := p.appendFollowerLocked(batches)
	eff, snap := p.afterAppendLocked(n > 0, sync)
	truncations := p.truncations.Load()
	p.mu.Unlock()
	p.apply(eff)
	p.writeDueSnapshot(snap)
	if n == 0 {
		return err
	}
	end := batches[n-1].Header().LastOffset() + 1
	return errors.Join(err, p.awaitSync(sync, ids.Offset(end), truncations))
}

// appendFollowerLocked writes batches, recording the producer state of
// idempotent ones without the sequence check (the leader made it). It
// reports how many it wrote.
func (p *Partition) appendFollowerLocked(batches []segment.Batch) (int, segment.Pending, error) {
	if p.closed {
		return 0, segment.Pending{}, p.wrap(ErrClosed)
	}
	if p.m.leader {
		return 0, segment.Pending{}, p.wrap(fmt.Errorf("%w: replicated append on the leader", ErrNotFollower))
	}
	n, sync, err := p.log.WriteReplicated(batches)
	for _, b := range batches[:n] {
		h := b.Header()
		p.bytesSinceSnapshot += h.Size()
		switch {
		case h.ProducerID < 0:
		case h.Attributes&segment.AttrControl != 0:
			_, coordinatorEpoch, merr := parseMarker(b.Bytes())
			if merr != nil {
				return n, sync, p.wrap(fmt.Errorf("replicated marker at offset %d: %w", h.BaseOffset, merr))
			}
			p.producers.recordMarker(h, coordinatorEpoch)
		default:
			p.producers.record(producerBatchOf(h))
		}
		if terr := p.observeTxnLocked(h, b.Bytes()); terr != nil {
			return n, sync, p.wrap(fmt.Errorf("replicated batch at offset %d: %w", h.BaseOffset, terr))
		}
	}
	if err != nil {
		err = p.wrap(fmt.Errorf("replicated batch at offset %d: %w", batches[n].Header().BaseOffset, err))
	}
	return n, sync, err
}

// FetchPosition is what a follower's next fetch sends: its LEO, the epoch
// of its last batch, its log start.
func (p *Partition) FetchPosition() (fetchOffset ids.Offset, lastFetchedEpoch ids.Epoch, logStart ids.Offset) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return ids.Offset(p.log.LogEndOffset()), ids.Epoch(p.log.LatestEpoch()), ids.Offset(p.log.LogStartOffset())
}

// UpdateFollowerHW sets a follower's HW to min(leader HW, LEO), never below
// the log start.
func (p *Partition) UpdateFollowerHW(leaderHW ids.Offset) {
	_ = p.event(func() error {
		if !p.m.leader {
			p.m.logStartMoved(ids.Offset(p.log.LogStartOffset()))
			p.m.leaderHW(leaderHW)
		}
		return nil
	})
}

// UpdateFollowerLogStart raises a follower's log start to the leader's (the
// LogStartOffset of its fetch answer), deleting the segments wholly below
// it as retention does (Kafka's ReplicaFetcherThread.processPartitionData).
// It never goes past the follower's HW, as Kafka refuses to: call it after
// UpdateFollowerHW, which by then covers the leader's log start unless the
// follower is still catching up. A log start at or below the follower's is
// a no-op, and so is a call on a leader (an answer from before a role
// change). Producers whose last batch lies below it are forgotten at the
// next snapshot.
func (p *Partition) UpdateFollowerLogStart(leaderLogStart ids.Offset) error {
	return p.event(func() error {
		if p.closed {
			return p.wrap(ErrClosed)
		}
		if p.m.leader {
			return nil
		}
		to := min(leaderLogStart, p.m.hw)
		if err := p.log.AdvanceLogStart(int64(to)); err != nil {
			return p.wrap(fmt.Errorf("raise log start to %d (leader's %d): %w", to, leaderLogStart, err))
		}
		p.m.logStartMoved(ids.Offset(p.log.LogStartOffset()))
		return nil
	})
}

// TruncateOnDivergence truncates a follower after a DivergingEpoch answer,
// by Kafka's rule (cluster-notes §1, AFT.getOffsetTruncationState), and
// rebuilds the producer state. When the follower did not know the leader's
// epoch it truncates to its own end of the epoch before; its next fetch,
// with its new last epoch, finds the rest.
func (p *Partition) TruncateOnDivergence(d EpochEnd) error {
	return p.event(func() error { return p.truncateOnDivergenceLocked(d) })
}

func (p *Partition) truncateOnDivergenceLocked(d EpochEnd) error {
	if p.closed {
		return p.wrap(ErrClosed)
	}
	if p.m.leader {
		return p.wrap(fmt.Errorf("%w: truncation on the leader", ErrNotFollower))
	}
	var own EpochEnd
	if d.Epoch >= 0 {
		e, o := p.log.EndOffsetForEpoch(int32(d.Epoch))
		own = EpochEnd{Epoch: ids.Epoch(e), EndOffset: ids.Offset(o)}
	}
	to, _ := truncationOffset(d, own, p.m.hw, ids.Offset(p.log.LogEndOffset()))
	p.snapshotMu.Lock()
	defer p.snapshotMu.Unlock()
	p.truncations.Add(1)
	if err := p.log.TruncateTo(int64(to)); err != nil {
		return p.wrap(fmt.Errorf("truncate to %d after diverging epoch %d ending at %d: %w", to, d.Epoch, d.EndOffset, err))
	}
	// The producer state is rebuilt at once (loadProducers drops the
	// snapshots above LEO): a retry of a truncated batch must be appended
	// again, not taken for a duplicate.
	leo := p.log.LogEndOffset()
	states, err := p.loadProducers(leo)
	if err != nil {
		return p.wrap(fmt.Errorf("reload producer state after truncation to %d: %w", leo, err))
	}
	p.producers, p.bytesSinceSnapshot = states, 0
	if p.txns, err = p.loadTxns(); err != nil {
		return p.wrap(fmt.Errorf("reload transactions after truncation to %d: %w", leo, err))
	}
	p.m.truncated(ids.Offset(leo), ids.Offset(p.log.LogStartOffset()))
	return nil
}

// RestartAt empties a follower whose LEO is below the leader's log start
// and restarts its log at offset, forgetting every producer.
func (p *Partition) RestartAt(offset ids.Offset) error {
	return p.event(func() error { return p.restartAtLocked(offset) })
}

func (p *Partition) restartAtLocked(offset ids.Offset) error {
	if p.closed {
		return p.wrap(ErrClosed)
	}
	if p.m.leader {
		return p.wrap(fmt.Errorf("%w: restart of the leader's log", ErrNotFollower))
	}
	p.snapshotMu.Lock()
	defer p.snapshotMu.Unlock()
	p.truncations.Add(1)
	if err := p.log.TruncateFullyAndStartAt(int64(offset)); err != nil {
		return p.wrap(fmt.Errorf("restart at %d: %w", offset, err))
	}
	if err := snapshotDirOf(p.log).removeAbove(-1); err != nil {
		return p.wrap(err)
	}
	p.producers, p.bytesSinceSnapshot, p.txns = newProducerStates(), 0, newTxnStates()
	p.m.truncated(offset, offset)
	return nil
}

package replica

import (
	"fmt"

	"github.com/riffle/riffle/internal/ids"

	"github.com/riffle/riffle/segment"
)

// AppendResult is what a produce gets back.
type AppendResult struct {
	segment.AppendResult
	LogStartOffset int64
	Duplicate      bool // an idempotent retry: offsets are the original batch's
}

// AppendAsLeader checks the producer id/epoch/sequence of a validated
// batch and appends it, rewriting its baseOffset and partitionLeaderEpoch
// in place. acks=-1 fails with ErrNotEnoughReplicas, appending nothing,
// while the committed ISR is below min.insync.replicas; it does not wait for
// HW (WaitReplicated does). It returns once the batch is as durable as
// segment.Log.Append leaves it. A follower refuses with ErrNotLeader.
//
// The append lock covers the sequence check, offset assignment and the
// write; an fdatasync the log asks for is awaited after unlocking, so that
// concurrent producers share it (group commit). The leader's own LEO, which
// HW is computed from, takes in the batch only once that sync is done: a
// consumer never reads a batch that a power loss could take back when the
// log syncs every append.
//
// A retry of one of the producer's last 5 batches is not appended again: the
// result carries the original offsets and Duplicate. A transactional batch
// opens its producer's transaction here if none is (txn.go).
func (p *Partition) AppendAsLeader(batch segment.Batch, acks int16, currentLeaderEpoch int32) (AppendResult, error) {
	if err := checkProducerFields(batch.Header()); err != nil {
		return AppendResult{}, p.wrap(err)
	}
	return p.appendWith(func() (AppendResult, segment.Pending, error) {
		return p.appendLocked(batch, acks, currentLeaderEpoch)
	})
}

// appendWith runs a leader's append under the append lock, then, outside
// it, wakes the fetches it concerns and waits for the sync it needs.
func (p *Partition) appendWith(locked func() (AppendResult, segment.Pending, error)) (AppendResult, error) {
	p.mu.Lock()
	res, sync, err := locked()
	eff, snap := p.afterAppendLocked(err == nil && !res.Duplicate, sync)
	truncations := p.truncations.Load()
	p.mu.Unlock()
	p.apply(eff)
	p.writeDueSnapshot(snap)
	if err != nil {
		return res, err
	}
	return res, p.awaitSync(sync, ids.Offset(res.LastOffset+1), truncations)
}

// afterAppendLocked wakes the followers' long polls for an append (they
// may fetch it while it is being synced), feeds the grown LEO to the
// machine unless a sync is pending (awaitSync does it then), and captures
// a snapshot once a segment's worth of bytes was appended since the last.
func (p *Partition) afterAppendLocked(appended bool, sync segment.Pending) (effects, *dueSnapshot) {
	if !appended {
		return p.takeLocked(), nil
	}
	if sync == (segment.Pending{}) {
		p.m.appended(ids.Offset(p.log.LogEndOffset()))
	}
	eff := p.takeLocked()
	eff.leoMoved = true
	if p.bytesSinceSnapshot < p.log.Config().SegmentBytes {
		return eff, nil
	}
	snap := p.captureSnapshotLocked()
	return eff, &snap
}

// awaitSync waits, outside the append lock, for the fdatasync an append
// needs, then feeds the machine the append's end: the LEO it counts only
// grows by durable batches. A truncation meanwhile (counted by truncations)
// set the machine's LEO itself, and the append's end may be gone.
func (p *Partition) awaitSync(sync segment.Pending, end ids.Offset, truncations uint64) error {
	if sync == (segment.Pending{}) {
		return nil
	}
	if err := sync.Wait(); err != nil {
		return p.wrap(err)
	}
	return p.event(func() error {
		if !p.closed && p.truncations.Load() == truncations && end > p.m.leo {
			p.m.appended(end)
		}
		return nil
	})
}

// writeDueSnapshot writes a snapshot afterAppendLocked captured, on a
// goroutine of its own: the append that crossed a segment's worth of bytes
// does not wait for its two fdatasyncs (pinned to one CPU, 150-250 ms ack
// stalls at each 1 GiB roll, the snapshot's syncs queued behind the
// roll's). The batches are appended whatever happens there; the state
// stays in memory and the next snapshot tries again.
func (p *Partition) writeDueSnapshot(s *dueSnapshot) {
	if s == nil {
		return
	}
	p.snapshotting.Go(func() {
		if err := p.writeSnapshot(*s); err != nil {
			p.logger.Error("producer-state snapshot failed", "offset", s.offset, "err", err)
		}
	})
}

// checkProducerFields rejects what this partition cannot append whatever its
// state: transactional and control batches, and idempotent batches without
// an epoch or sequence.
func checkProducerFields(h segment.BatchHeader) error {
	switch {
	case h.Attributes&segment.AttrTransactional != 0 && h.ProducerID < 0:
		return fmt.Errorf("%w: transactional batch without a producer id", segment.ErrCorruptBatch)
	case h.Attributes&segment.AttrControl != 0:
		return fmt.Errorf("%w: control batch from a client", segment.ErrCorruptBatch)
	case h.ProducerID >= 0 && (h.ProducerEpoch < 0 || h.BaseSequence < 0):
		return fmt.Errorf("%w: producer %d with epoch %d and sequence %d",
			segment.ErrCorruptBatch, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
	}
	return nil
}

// appendLocked is AppendAsLeader under the append lock. sync is the
// fdatasync the batch still needs; for a duplicate, the one its first
// attempt may still be waiting for.
func (p *Partition) appendLocked(batch segment.Batch, acks int16, currentLeaderEpoch int32) (AppendResult, segment.Pending, error) {
	if p.closed {
		return AppendResult{}, segment.Pending{}, p.wrap(ErrClosed)
	}
	if err := p.CheckLeaderEpoch(currentLeaderEpoch); err != nil {
		return AppendResult{}, segment.Pending{}, err
	}
	if !p.m.leader {
		return AppendResult{}, segment.Pending{}, p.wrap(fmt.Errorf("%w: produce to a follower", ErrNotLeader))
	}
	if acks == -1 && !p.m.enoughReplicas() {
		return AppendResult{}, segment.Pending{}, p.wrap(fmt.Errorf("%w: ISR has %d replicas, min.insync.replicas is %d",
			ErrNotEnoughReplicas, len(p.m.isr), p.m.minISR))
	}
	h := batch.Header()
	idempotent := h.ProducerID >= 0
	pb := producerBatchOf(h)
	if idempotent {
		dup, err := p.producers.check(pb)
		if err != nil {
			return AppendResult{}, segment.Pending{}, p.wrap(err)
		}
		if dup != nil {
			return p.duplicateResult(dup), p.log.SyncPending(dup.lastOffset + 1), nil
		}
	}
	res, sync, err := p.log.Write(batch, int32(p.m.epoch))
	if err != nil {
		return AppendResult{}, segment.Pending{}, p.wrap(err)
	}
	if idempotent {
		pb.meta.firstOffset, pb.meta.lastOffset, pb.meta.maxTimestamp = res.BaseOffset, res.LastOffset, res.MaxTimestamp
		p.producers.record(pb)
		h.BaseOffset = res.BaseOffset
		if err := p.observeTxnLocked(h, batch.Bytes()); err != nil {
			return AppendResult{}, sync, p.wrap(err)
		}
	}
	p.bytesSinceSnapshot += int64(len(batch.Bytes()))
	return AppendResult{AppendResult: res, LogStartOffset: p.log.LogStartOffset()}, sync, nil
}

func (p *Partition) duplicateResult(dup *batchMeta) AppendResult {
	return AppendResult{
		AppendResult: segment.AppendResult{
			BaseOffset:    dup.firstOffset,
			LastOffset:    dup.lastOffset,
			MaxTimestamp:  dup.maxTimestamp,
			LogAppendTime: -1,
		},
		LogStartOffset: p.log.LogStartOffset(),
		Duplicate:      true,
	}
}

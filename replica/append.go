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

// AppendAsLeader validates the producer id/epoch/sequence of an already
// validated batch (segment.ValidateBatch) and appends it, rewriting its
// baseOffset and partitionLeaderEpoch in place. acks=-1 fails with
// ErrNotEnoughReplicas, appending nothing, while the committed ISR is below
// min.insync.replicas; it does not wait for HW (WaitReplicated does). The
// batch is as durable as segment.Log.Append leaves it. A follower refuses
// with ErrNotLeader.
//
// A retry of one of the producer's last 5 batches is not appended again: the
// result carries the original offsets and Duplicate. A transactional batch
// opens its producer's transaction here if none is (txn.go).
func (p *Partition) AppendAsLeader(batch []byte, acks int16, currentLeaderEpoch int32) (AppendResult, error) {
	h, err := segment.ParseBatchHeader(batch)
	if err == nil {
		err = checkProducerFields(h)
	}
	if err != nil {
		return AppendResult{}, p.wrap(err)
	}
	p.mu.Lock()
	res, err := p.appendLocked(batch, h, acks, currentLeaderEpoch)
	eff, snap := p.afterAppendLocked(err == nil && !res.Duplicate)
	p.mu.Unlock()
	p.apply(eff)
	p.writeDueSnapshot(snap)
	return res, err
}

// afterAppendLocked feeds a grown LEO to the machine and captures a
// snapshot once a segment's worth of bytes was appended since the last.
func (p *Partition) afterAppendLocked(appended bool) (effects, *dueSnapshot) {
	if !appended {
		return p.takeLocked(), nil
	}
	p.m.appended(ids.Offset(p.log.LogEndOffset()))
	eff := p.takeLocked()
	eff.leoMoved = true
	if p.bytesSinceSnapshot < p.log.Config().SegmentBytes {
		return eff, nil
	}
	snap := p.captureSnapshotLocked()
	return eff, &snap
}

// writeDueSnapshot writes a snapshot afterAppendLocked captured. The
// batches are appended whatever happens here; the state stays in memory and
// the next snapshot tries again.
func (p *Partition) writeDueSnapshot(s *dueSnapshot) {
	if s == nil {
		return
	}
	if err := p.writeSnapshot(*s); err != nil {
		p.logger.Error("producer-state snapshot failed", "offset", s.offset, "err", err)
	}
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

// appendLocked is AppendAsLeader under the append lock.
func (p *Partition) appendLocked(batch []byte, h segment.BatchHeader, acks int16, currentLeaderEpoch int32) (AppendResult, error) {
	if p.closed {
		return AppendResult{}, p.wrap(ErrClosed)
	}
	if err := p.CheckLeaderEpoch(currentLeaderEpoch); err != nil {
		return AppendResult{}, err
	}
	if !p.m.leader {
		return AppendResult{}, p.wrap(fmt.Errorf("%w: produce to a follower", ErrNotLeader))
	}
	if acks == -1 && !p.m.enoughReplicas() {
		return AppendResult{}, p.wrap(fmt.Errorf("%w: ISR has %d replicas, min.insync.replicas is %d",
			ErrNotEnoughReplicas, len(p.m.isr), p.m.minISR))
	}
	idempotent := h.ProducerID >= 0
	pb := producerBatchOf(h)
	if idempotent {
		dup, err := p.producers.check(pb)
		if err != nil {
			return AppendResult{}, p.wrap(err)
		}
		if dup != nil {
			return p.duplicateResult(dup), nil
		}
	}
	res, err := p.log.Append(batch, int32(p.m.epoch))
	if err != nil {
		return AppendResult{}, p.wrap(err)
	}
	if idempotent {
		pb.meta.firstOffset, pb.meta.lastOffset, pb.meta.maxTimestamp = res.BaseOffset, res.LastOffset, res.MaxTimestamp
		p.producers.record(pb)
		h.BaseOffset = res.BaseOffset
		if err := p.observeTxnLocked(h, batch); err != nil {
			return AppendResult{}, p.wrap(err)
		}
	}
	p.bytesSinceSnapshot += int64(len(batch))
	return AppendResult{AppendResult: res, LogStartOffset: p.log.LogStartOffset()}, nil
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

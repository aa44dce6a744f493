package replica

import (
	"fmt"

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
// baseOffset and partitionLeaderEpoch in place. For acks=-1 it returns once
// HW covers the batch (immediately with a one-replica ISR). The batch is as
// durable as segment.Log.Append leaves it.
//
// A retry of one of the producer's last 5 batches is not appended again: the
// result carries the original offsets and Duplicate. Transactional batches
// fail with ErrTransactionsUnsupported.
func (p *Partition) AppendAsLeader(batch []byte, acks int16, currentLeaderEpoch int32) (AppendResult, error) {
	h, err := segment.ParseBatchHeader(batch)
	if err == nil {
		err = checkProducerFields(h)
	}
	if err != nil {
		return AppendResult{}, p.wrap(err)
	}
	p.mu.Lock()
	res, advanced, err := p.appendLocked(batch, h, acks, currentLeaderEpoch)
	var snapOffset int64
	var snap []byte
	if err == nil && !res.Duplicate && p.bytesSinceSnapshot >= p.log.Config().SegmentBytes {
		snapOffset, snap = p.captureSnapshotLocked()
	}
	p.mu.Unlock()
	if advanced {
		p.notifyWatchers()
	}
	if snap != nil {
		// The batch is appended whatever happens here; the state stays in
		// memory and the next snapshot tries again.
		if err := p.writeSnapshot(snapOffset, snap); err != nil {
			p.logger.Error("producer-state snapshot failed", "offset", snapOffset, "err", err)
		}
	}
	return res, err
}

// checkProducerFields rejects what this partition cannot append whatever its
// state: transactional and control batches, and idempotent batches without
// an epoch or sequence.
func checkProducerFields(h segment.BatchHeader) error {
	switch {
	case h.Attributes&segment.AttrTransactional != 0:
		return fmt.Errorf("%w: transactional batch from producer %d", ErrTransactionsUnsupported, h.ProducerID)
	case h.Attributes&segment.AttrControl != 0:
		return fmt.Errorf("%w: control batch from a client", segment.ErrCorruptBatch)
	case h.ProducerID >= 0 && (h.ProducerEpoch < 0 || h.BaseSequence < 0):
		return fmt.Errorf("%w: producer %d with epoch %d and sequence %d",
			segment.ErrCorruptBatch, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
	}
	return nil
}

// appendLocked is AppendAsLeader under the append lock; it reports whether
// HW advanced.
func (p *Partition) appendLocked(batch []byte, h segment.BatchHeader, acks int16, currentLeaderEpoch int32) (AppendResult, bool, error) {
	if p.closed {
		return AppendResult{}, false, p.wrap(ErrClosed)
	}
	if err := p.CheckLeaderEpoch(currentLeaderEpoch); err != nil {
		return AppendResult{}, false, err
	}
	if acks == -1 && !p.hw.enoughReplicas() {
		return AppendResult{}, false, p.wrap(fmt.Errorf("%w: ISR has %d replicas, min.insync.replicas is %d",
			ErrNotEnoughReplicas, len(p.hw.leo), p.hw.minISR))
	}
	idempotent := h.ProducerID >= 0
	pb := producerBatchOf(h)
	if idempotent {
		dup, err := p.producers.check(pb)
		if err != nil {
			return AppendResult{}, false, p.wrap(err)
		}
		if dup != nil {
			return p.duplicateResult(dup), false, nil
		}
	}
	res, err := p.log.Append(batch, p.opts.LeaderEpoch)
	if err != nil {
		return AppendResult{}, false, p.wrap(err)
	}
	if idempotent {
		pb.meta.firstOffset, pb.meta.lastOffset, pb.meta.maxTimestamp = res.BaseOffset, res.LastOffset, res.MaxTimestamp
		p.producers.record(pb)
	}
	p.bytesSinceSnapshot += int64(len(batch))
	advanced := p.hw.updateLEO(p.opts.NodeID, res.LastOffset+1)
	if advanced {
		p.highWatermark.Store(p.hw.hw)
	}
	return AppendResult{AppendResult: res, LogStartOffset: p.log.LogStartOffset()}, advanced, nil
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

package replica

import (
	"fmt"
	"math"
	"slices"

	"github.com/riffle/riffle/segment"
)

// producerBatchesKept is how many recent batches each producer keeps for
// duplicate detection: an idempotent producer has at most 5 requests in
// flight per connection, so a retry is always one of its last 5 batches.
const producerBatchesKept = 5

// batchMeta is what duplicate detection and sequence checks need of a batch.
type batchMeta struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	maxTimestamp            int64
}

// producerBatch is one idempotent batch: its producer and its metadata.
// Offsets are zero until the batch is appended.
type producerBatch struct {
	producerID int64
	epoch      int16
	meta       batchMeta
}

// producerBatchOf reads the producer fields of a batch header. Offsets are
// the header's, so it serves both appended batches and log replay.
func producerBatchOf(h segment.BatchHeader) producerBatch {
	return producerBatch{
		producerID: h.ProducerID,
		epoch:      h.ProducerEpoch,
		meta: batchMeta{
			firstSeq:     h.BaseSequence,
			lastSeq:      addSeq(h.BaseSequence, h.LastOffsetDelta),
			firstOffset:  h.BaseOffset,
			lastOffset:   h.LastOffset(),
			maxTimestamp: h.MaxTimestamp,
		},
	}
}

// addSeq adds n to a sequence number. Sequences are non-negative int32 and
// wrap from MaxInt32 to 0.
func addSeq(seq, n int32) int32 {
	return int32((int64(seq) + int64(n)) % (math.MaxInt32 + 1))
}

// producerEntry is one producer's state: its epoch and its last batches,
// oldest first, 1 to producerBatchesKept of them (an entry starts with the
// batch that created it).
type producerEntry struct {
	epoch   int16
	batches []batchMeta
	// coordinatorEpoch is the newest coordinator epoch of the producer's
	// markers here, -1 before any: markers from older ones are fenced.
	coordinatorEpoch int32
}

func (e *producerEntry) last() batchMeta { return e.batches[len(e.batches)-1] }

// producerStates is the idempotent-producer state of a partition: a pure
// state machine fed with batch headers. The caller serialises check, append
// and record so that no other batch slips in between.
type producerStates struct {
	byID map[int64]*producerEntry
}

func newProducerStates() *producerStates {
	return &producerStates{byID: make(map[int64]*producerEntry)}
}

// check decides whether a leader may append b (offsets not yet assigned).
// It returns the remembered batch when b is a retry of one of the producer's
// last batches, which must not be appended again; ErrInvalidProducerEpoch for
// a stale epoch; ErrOutOfOrderSequence when b does not follow the producer's
// last batch. A producer without state may start at any sequence, as Kafka
// accepts an unknown producer (its state may have been expired or lost).
func (s *producerStates) check(b producerBatch) (*batchMeta, error) {
	e := s.byID[b.producerID]
	if e == nil {
		return nil, nil
	}
	switch {
	case b.epoch < e.epoch:
		return nil, fmt.Errorf("%w: producer %d sent epoch %d, current is %d",
			ErrInvalidProducerEpoch, b.producerID, b.epoch, e.epoch)
	case b.epoch > e.epoch:
		if b.meta.firstSeq != 0 {
			return nil, fmt.Errorf("%w: producer %d starts epoch %d at sequence %d, want 0",
				ErrOutOfOrderSequence, b.producerID, b.epoch, b.meta.firstSeq)
		}
		return nil, nil
	}
	for i := range e.batches {
		if e.batches[i].firstSeq == b.meta.firstSeq && e.batches[i].lastSeq == b.meta.lastSeq {
			dup := e.batches[i]
			return &dup, nil
		}
	}
	if want := addSeq(e.last().lastSeq, 1); b.meta.firstSeq != want {
		return nil, fmt.Errorf("%w: producer %d epoch %d sent sequence %d, want %d",
			ErrOutOfOrderSequence, b.producerID, b.epoch, b.meta.firstSeq, want)
	}
	return nil, nil
}

// record adds an appended batch to its producer's state without checking it
// (check has, or the batch comes from the log). A new epoch starts a fresh
// batch history.
func (s *producerStates) record(b producerBatch) {
	e := s.byID[b.producerID]
	if e == nil {
		e = &producerEntry{epoch: b.epoch, coordinatorEpoch: -1}
		s.byID[b.producerID] = e
	}
	if b.epoch != e.epoch {
		e.epoch = b.epoch
		e.batches = e.batches[:0]
	}
	if len(e.batches) == producerBatchesKept {
		e.batches = slices.Delete(e.batches, 0, 1)
	}
	e.batches = append(e.batches, b.meta)
}

// evictBelow forgets producers whose last batch lies below logStart: their
// batches are gone from the log, so their state could not be rebuilt by
// replay either. Their next batch is accepted like an unknown producer's.
func (s *producerStates) evictBelow(logStart int64) {
	for id, e := range s.byID {
		if e.last().lastOffset < logStart {
			delete(s.byID, id)
		}
	}
}

// sortedIDs returns the producer ids in increasing order.
func (s *producerStates) sortedIDs() []int64 {
	ids := make([]int64, 0, len(s.byID))
	for id := range s.byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

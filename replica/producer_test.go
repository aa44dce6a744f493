package replica

import (
	"errors"
	"math"
	"testing"
)

// pbatch is an idempotent batch of producer 7 with count records.
func pbatch(epoch int16, firstSeq int32, count int32, firstOffset int64) producerBatch {
	return producerBatch{
		producerID: 7,
		epoch:      epoch,
		meta: batchMeta{
			firstSeq:     firstSeq,
			lastSeq:      addSeq(firstSeq, count-1),
			firstOffset:  firstOffset,
			lastOffset:   firstOffset + int64(count) - 1,
			maxTimestamp: 1000 + firstOffset,
		},
	}
}

// sixBatches is producer 7 at epoch 3 after six 2-record batches with
// sequences 0-1, 2-3, ..., 10-11 at offsets 0-1, ..., 10-11.
func sixBatches() *producerStates {
	s := newProducerStates()
	for i := range int32(6) {
		s.record(pbatch(3, 2*i, 2, int64(2*i)))
	}
	return s
}

func TestProducerCheck(t *testing.T) {
	tests := []struct {
		name    string
		state   func() *producerStates
		batch   producerBatch
		wantDup int64 // first offset of the remembered batch, -1 for none
		wantErr error
	}{
		{"next in order", sixBatches, pbatch(3, 12, 2, 0), -1, nil},
		{"duplicate of last", sixBatches, pbatch(3, 10, 2, 0), 10, nil},
		{"duplicate of 2nd last", sixBatches, pbatch(3, 8, 2, 0), 8, nil},
		{"duplicate of 3rd last", sixBatches, pbatch(3, 6, 2, 0), 6, nil},
		{"duplicate of 4th last", sixBatches, pbatch(3, 4, 2, 0), 4, nil},
		{"duplicate of 5th last", sixBatches, pbatch(3, 2, 2, 0), 2, nil},
		{"older than the last 5", sixBatches, pbatch(3, 0, 2, 0), -1, ErrOutOfOrderSequence},
		{"same first seq other length", sixBatches, pbatch(3, 10, 3, 0), -1, ErrOutOfOrderSequence},
		{"gap", sixBatches, pbatch(3, 13, 2, 0), -1, ErrOutOfOrderSequence},
		{"epoch bump at seq 0", sixBatches, pbatch(4, 0, 2, 0), -1, nil},
		{"epoch bump at seq 12", sixBatches, pbatch(4, 12, 2, 0), -1, ErrOutOfOrderSequence},
		{"stale epoch", sixBatches, pbatch(2, 12, 2, 0), -1, ErrInvalidProducerEpoch},
		{"stale epoch duplicate", sixBatches, pbatch(2, 10, 2, 0), -1, ErrInvalidProducerEpoch},
		{"unknown producer high seq", newProducerStates, pbatch(3, 4711, 2, 0), -1, nil},
		{"unknown producer seq 0", newProducerStates, pbatch(0, 0, 1, 0), -1, nil},
		{"wrap to 0", func() *producerStates {
			s := newProducerStates()
			s.record(pbatch(1, math.MaxInt32-1, 2, 0))
			return s
		}, pbatch(1, 0, 5, 0), -1, nil},
		{"wrap past MaxInt32 not 0", func() *producerStates {
			s := newProducerStates()
			s.record(pbatch(1, math.MaxInt32-1, 2, 0))
			return s
		}, pbatch(1, math.MaxInt32, 1, 0), -1, ErrOutOfOrderSequence},
		{"batch spanning the wrap follows", func() *producerStates {
			s := newProducerStates()
			s.record(pbatch(1, math.MaxInt32-1, 3, 0)) // sequences MaxInt32-1, MaxInt32, 0
			return s
		}, pbatch(1, 1, 1, 0), -1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dup, err := tt.state().check(tt.batch)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			switch {
			case tt.wantDup < 0 && dup != nil:
				t.Fatalf("duplicate of offset %d, want none", dup.firstOffset)
			case tt.wantDup >= 0 && dup == nil:
				t.Fatalf("no duplicate, want offset %d", tt.wantDup)
			case tt.wantDup >= 0 && (dup.firstOffset != tt.wantDup || dup.lastOffset != tt.wantDup+1 || dup.maxTimestamp != 1000+tt.wantDup):
				t.Fatalf("duplicate %+v, want offsets %d-%d", *dup, tt.wantDup, tt.wantDup+1)
			}
		})
	}
}

func TestAddSeqWraps(t *testing.T) {
	for _, tt := range []struct{ seq, n, want int32 }{
		{0, 0, 0},
		{5, 3, 8},
		{math.MaxInt32, 1, 0},
		{math.MaxInt32 - 1, 3, 1},
		{math.MaxInt32, math.MaxInt32, math.MaxInt32 - 1},
	} {
		if got := addSeq(tt.seq, tt.n); got != tt.want {
			t.Errorf("addSeq(%d, %d) = %d, want %d", tt.seq, tt.n, got, tt.want)
		}
	}
}

func TestProducerRecordKeepsLastFive(t *testing.T) {
	s := sixBatches()
	e := s.byID[7]
	if len(e.batches) != producerBatchesKept || e.batches[0].firstSeq != 2 || e.batches[4].firstSeq != 10 {
		t.Fatalf("batches = %+v, want sequences 2..10 in order", e.batches)
	}
	s.record(pbatch(4, 0, 1, 12))
	if e.epoch != 4 || len(e.batches) != 1 || e.batches[0].firstOffset != 12 {
		t.Fatalf("after epoch bump: epoch %d, batches %+v", e.epoch, e.batches)
	}
}

func TestProducerEvictBelow(t *testing.T) {
	s := sixBatches()
	other := pbatch(0, 0, 1, 20)
	other.producerID = 8
	s.record(other)
	s.evictBelow(11) // producer 7 ends at 11: kept
	if len(s.byID) != 2 {
		t.Fatalf("evicted too early: %v", s.sortedIDs())
	}
	s.evictBelow(12)
	if ids := s.sortedIDs(); len(ids) != 1 || ids[0] != 8 {
		t.Fatalf("producers = %v, want [8]", ids)
	}
}

func BenchmarkProducerCheckRecord(b *testing.B) {
	s := newProducerStates()
	for pid := range int64(1000) {
		s.record(producerBatch{producerID: pid})
	}
	var seq int32
	for i := 0; b.Loop(); i++ {
		pid := int64(i % 1000)
		if pid == 0 {
			seq++
		}
		pb := pbatch(0, seq, 1, int64(i))
		pb.producerID = pid
		if _, err := s.check(pb); err != nil {
			b.Fatal(err)
		}
		s.record(pb)
	}
}

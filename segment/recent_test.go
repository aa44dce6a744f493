package segment

import (
	"math"
	"testing"
)

// TestTailReadsReadNoHeaders: a read of one of the last batches appended
// (a caught-up consumer's or a follower's) finds it without reading batch
// headers from the file; an older one still scans from the index.
func TestTailReadsReadNoHeaders(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20       // one segment
	cfg.IndexIntervalBytes = 1 << 20 // no index entry: older reads scan
	e, cfs := newCountingEnv(t, cfg)
	_, l := e.openLog()
	res := appendN(t, l, 20, 3, 1000)
	read := func(offset int64) (BatchHeader, int64) {
		t.Helper()
		before, _, _ := cfs.counts()
		r, err := l.Read(offset, 1<<20, math.MaxInt64, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", offset, err)
		}
		defer r.Release()
		after, _, _ := cfs.counts()
		hs := regionBatches(t, r)
		if len(hs) == 0 || hs[0].BaseOffset > offset || hs[0].LastOffset() < offset {
			t.Fatalf("Read(%d) starts with %+v", offset, hs)
		}
		return hs[0], after - before
	}
	for _, i := range []int{11, 10, 9, 8, 7, 6, 5, 4} {
		off := int64(res[i].BaseOffset) + 1
		if _, bytesRead := read(off); bytesRead != 0 {
			t.Errorf("Read(%d) of batch %d read %d bytes of headers, want none", off, i, bytesRead)
		}
	}
	if _, bytesRead := read(int64(res[3].BaseOffset)); bytesRead == 0 {
		t.Errorf("Read of batch 3 (not among the recent) read no headers: the count does not work")
	}
}

// TestTruncationForgetsRecentBatches: after a truncation, batches appended
// again at the same offsets (here one larger batch where two stood) are
// read where they now lie, not where the cut ones lay.
func TestTruncationForgetsRecentBatches(t *testing.T) {
	e := newEnv(t, smallConfig())
	_, l := e.openLog()
	res := appendN(t, l, 10, 3, 1000)
	cut := int64(res[8].BaseOffset)
	if err := l.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, testBatch(5000, 20))
	for off := cut; off < l.LogEndOffset(); off++ {
		r, err := l.Read(off, 1<<20, math.MaxInt64, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		hs := regionBatches(t, r)
		r.Release()
		if len(hs) != 1 || hs[0].BaseOffset != cut || hs[0].RecordCount != 20 {
			t.Fatalf("Read(%d) after the truncation gave %+v, want the one 20-record batch at %d", off, hs, cut)
		}
	}
}

// TestRecentRingEmptySlotsMatchNothing: a ring not yet full (here after a
// truncation emptied it) answers only for batches appended; a read at the
// segment's first offset finds the real first batch.
func TestRecentRingEmptySlotsMatchNothing(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	e := newEnv(t, cfg)
	_, l := e.openLog()
	res := appendN(t, l, 10, 3, 1000)
	if err := l.TruncateTo(int64(res[8].BaseOffset)); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, testBatch(5000, 3))
	r, err := l.Read(0, 1, math.MaxInt64, true)
	if err != nil {
		t.Fatal(err)
	}
	hs := regionBatches(t, r)
	r.Release()
	if len(hs) != 1 || hs[0].BaseOffset != 0 || hs[0].RecordCount != 3 {
		t.Fatalf("Read(0) gave %+v, want the first 3-record batch", hs)
	}
}

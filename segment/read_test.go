package segment

import (
	"errors"
	"math"
	"testing"
)

// TestReadEveryOffset reads at every offset of a multi-segment log: first,
// last, inside batches, between index entries, at segment ends.
func TestReadEveryOffset(t *testing.T) {
	e := newEnv(t, smallConfig())
	d, l := e.openLog()
	defer d.Close()
	res := appendN(t, l, 40, 3, 1000)
	leo := l.LogEndOffset()
	for off := int64(0); off < leo; off++ {
		r, err := l.Read(off, 1<<20, math.MaxInt64, false)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		hs := regionBatches(t, r)
		r.Release()
		if len(hs) == 0 || hs[0].BaseOffset > off || hs[0].LastOffset() < off {
			t.Fatalf("Read(%d): first batch %+v does not hold it", off, hs)
		}
	}
	if r, err := l.Read(leo, 1<<20, math.MaxInt64, true); err != nil || r.Len != 0 {
		t.Fatalf("Read(LEO) = %+v, %v; want empty", r, err)
	} else {
		r.Release()
	}
	if _, err := l.Read(leo+1, 1<<20, math.MaxInt64, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read(LEO+1) error %v, want ErrOffsetOutOfRange", err)
	}
	if _, err := l.Read(-1, 1<<20, math.MaxInt64, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read(-1) error %v, want ErrOffsetOutOfRange", err)
	}
	if res[len(res)-1].LastOffset != leo-1 {
		t.Fatalf("last append %+v, LEO %d", res[len(res)-1], leo)
	}
}

func TestReadBounds(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	e := newEnv(t, cfg)
	d, l := e.openLog()
	defer d.Close()
	appendN(t, l, 20, 3, 1000) // offsets 0..59, batches of 3
	size := testBatchSize(t)

	read := func(off int64, maxBytes int32, upper int64, minOne bool) []BatchHeader {
		t.Helper()
		r, err := l.Read(off, maxBytes, upper, minOne)
		if err != nil {
			t.Fatalf("Read(%d, %d, %d, %v): %v", off, maxBytes, upper, minOne, err)
		}
		defer r.Release()
		return regionBatches(t, r)
	}
	// upperOffset: the region ends before the first batch with base >= upper.
	checkContiguous(t, read(4, 1<<20, 30, false), 3, 30)
	checkContiguous(t, read(4, 1<<20, 31, false), 3, 33) // upper inside a batch keeps it
	if hs := read(30, 1<<20, 30, false); len(hs) != 0 {
		t.Fatalf("read at upper offset returned %d batches", len(hs))
	}
	// maxBytes: whole batches only.
	checkContiguous(t, read(0, int32(3*size+size/2), math.MaxInt64, false), 0, 9)
	checkContiguous(t, read(7, int32(2*size), math.MaxInt64, false), 6, 12)
	// A first batch larger than maxBytes: nothing, or all of it with minOneBatch.
	if hs := read(0, int32(size-1), math.MaxInt64, false); len(hs) != 0 {
		t.Fatalf("maxBytes below one batch returned %d batches", len(hs))
	}
	checkContiguous(t, read(0, int32(size-1), math.MaxInt64, true), 0, 3)
	checkContiguous(t, read(0, 0, math.MaxInt64, true), 0, 3)
}

func testBatchSize(t *testing.T) int64 {
	h, err := ParseBatchHeader(testBatch(1000, 3))
	if err != nil {
		t.Fatal(err)
	}
	return h.Size()
}

func TestReadBelowLogStart(t *testing.T) {
	e := newEnv(t, smallConfig())
	d, l := e.openLog()
	defer d.Close()
	appendN(t, l, 40, 3, 1000)
	before := l.SegmentCount()
	if err := l.AdvanceLogStart(50); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 50 {
		t.Fatalf("log start %d, want 50", l.LogStartOffset())
	}
	if l.SegmentCount() >= before {
		t.Fatalf("segments below log start not deleted: %d of %d remain", l.SegmentCount(), before)
	}
	if _, err := l.Read(49, 1<<20, math.MaxInt64, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read below log start: %v, want ErrOffsetOutOfRange", err)
	}
	hs := readAll(t, l, 50)
	if hs[0].BaseOffset > 50 || hs[0].LastOffset() < 50 {
		t.Fatalf("read at log start begins with batch %d..%d", hs[0].BaseOffset, hs[0].LastOffset())
	}
	if err := l.AdvanceLogStart(l.LogEndOffset() + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("AdvanceLogStart past LEO: %v", err)
	}
	// The log start survives a restart.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = e.open()
	defer d.Close()
	if got := d.Log("my.topic-x", 3).LogStartOffset(); got != 50 {
		t.Fatalf("log start after restart %d, want 50", got)
	}
}

func TestScanBatches(t *testing.T) {
	e := newEnv(t, smallConfig())
	d, l := e.openLog()
	defer d.Close()
	appendN(t, l, 30, 3, 1000)
	var hs []BatchHeader
	if err := l.ScanBatches(10, func(h BatchHeader) error { hs = append(hs, h); return nil }); err != nil {
		t.Fatal(err)
	}
	checkContiguous(t, hs, 9, 90)
	stop := errors.New("stop")
	n := 0
	err := l.ScanBatches(0, func(BatchHeader) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("ScanBatches did not stop on error: %v after %d", err, n)
	}
}

package segment

import (
	"math"
	"testing"
)

// TestIndexEntriesWrittenTogether: index entries are held in memory and
// written many to a pwrite, lookups see the held ones, and a clean close
// writes them all, so the reopened segment's index has every entry.
func TestIndexEntriesWrittenTogether(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20 // one segment
	cfg.IndexBytesMax = 1 << 16
	e, cfs := newCountingEnv(t, cfg)
	d, l := e.openLog()
	const batches = 300
	res := appendN(t, l, batches, 3, 1000) // each batch passes the 100-byte interval
	entries := l.active().index.entries
	if entries < batches-2 {
		t.Fatalf("%d offset index entries for %d batches", entries, batches)
	}
	cfs.mu.Lock()
	writes := cfs.indexWrites
	cfs.mu.Unlock()
	// Held heldBytesMax at a time: 8-byte entries 128 to a write, 12-byte
	// time entries 85 (5 writes here); one write each would be 2 per batch.
	if want := entries / 16; writes > want {
		t.Errorf("%d index writes for %d entries of each index, want at most %d", writes, entries, want)
	}
	for i, r := range res { // held entries are looked up like written ones
		if pos, h, ok, err := l.active().findBatch(r.BaseOffset); err != nil || !ok || h.BaseOffset != r.BaseOffset {
			t.Fatalf("batch %d at %d: found %+v at %d (%v, %v)", i, r.BaseOffset, h, pos, ok, err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = e.open()
	defer d.Close()
	l = d.Log("my.topic-x", 3)
	if got := l.active().index.entries; got != entries {
		t.Errorf("reopened offset index has %d entries, want %d", got, entries)
	}
	r, err := l.Read(res[batches/2].BaseOffset, 1, math.MaxInt64, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if hs := regionBatches(t, r); len(hs) != 1 || hs[0].BaseOffset != res[batches/2].BaseOffset {
		t.Fatalf("read after reopen gave %+v", hs)
	}
}

// TestIndexCutWithHeldEntries: a truncation that cuts only held entries
// and one that cuts into the written ones both leave every entry naming
// the batch it indexes, among the batches appended after. (findBatch
// would hide a stale entry: it rescans when misled.)
func TestIndexCutWithHeldEntries(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.IndexBytesMax = 1 << 16
	e := newEnv(t, cfg)
	_, l := e.openLog()
	res := appendN(t, l, 300, 3, 1000) // 299 entries: 256 written, 43 held
	for _, cut := range []int{290, 100} {
		if err := l.TruncateTo(res[cut].BaseOffset); err != nil {
			t.Fatal(err)
		}
		appendN(t, l, 150, 5, 5000)
		s := l.active()
		for i := range s.index.entries {
			o, pos := s.index.at(i)
			if h, err := s.headerAt(pos); err != nil || h.LastOffset() != o {
				t.Fatalf("cut at batch %d: entry %d (%d, %d) names %+v (%v)", cut, i, o, pos, h, err)
			}
		}
		for i := 1; i < s.timeIndex.entries; i++ {
			prev, _ := s.timeIndex.at(i - 1)
			if ts, _ := s.timeIndex.at(i); ts <= prev {
				t.Fatalf("cut at batch %d: time entry %d (%d) not above the one before (%d)", cut, i, ts, prev)
			}
		}
	}
}

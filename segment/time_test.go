package segment

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"
)

func TestOffsetForTimestamp(t *testing.T) {
	e := newEnv(t, smallConfig())
	d, l := e.openLog()
	defer d.Close()
	// Batch i holds offsets 3i..3i+2 with timestamps 1000+10i, +1, +2.
	appendN(t, l, 40, 3, 1000)
	cases := []struct {
		ts         int64
		offset, at int64
		found      bool
	}{
		{0, 0, 1000, true},
		{1000, 0, 1000, true},
		{1001, 1, 1001, true},
		{1003, 3, 1010, true}, // between batches: the next batch's first record
		{1212, 65, 1212, true},
		{1392, 119, 1392, true},
		{1393, -1, -1, false},
	}
	for _, c := range cases {
		off, ts, found, err := l.OffsetForTimestamp(c.ts)
		if err != nil || off != c.offset || ts != c.at || found != c.found {
			t.Errorf("OffsetForTimestamp(%d) = %d, %d, %v, %v; want %d, %d, %v", c.ts, off, ts, found, err, c.offset, c.at, c.found)
		}
	}
	if off, ts := l.MaxTimestamp(); off != 119 || ts != 1392 {
		t.Fatalf("MaxTimestamp = %d, %d; want 119, 1392", off, ts)
	}
	// Out-of-order timestamps: the max stays with the first record carrying it.
	mustAppend(t, l, testBatch(500, 2))
	if off, ts := l.MaxTimestamp(); off != 119 || ts != 1392 {
		t.Fatalf("MaxTimestamp after older batch = %d, %d", off, ts)
	}
	// Lookups still work after a clean restart (indexes trusted, tails scanned).
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = e.open()
	defer d.Close()
	l = d.Log("my.topic-x", 3)
	if off, _, _, _ := l.OffsetForTimestamp(1212); off != 65 {
		t.Fatalf("after restart OffsetForTimestamp(1212) = %d", off)
	}
	if _, ts := l.MaxTimestamp(); ts != 1392 {
		t.Fatalf("after restart MaxTimestamp ts = %d", ts)
	}
}

func TestMaxTimestampEmpty(t *testing.T) {
	e := newEnv(t, smallConfig())
	d, l := e.openLog()
	defer d.Close()
	if off, ts := l.MaxTimestamp(); off != -1 || ts != -1 {
		t.Fatalf("empty log MaxTimestamp = %d, %d", off, ts)
	}
	if _, _, found, err := l.OffsetForTimestamp(0); found || err != nil {
		t.Fatalf("empty log OffsetForTimestamp found %v, %v", found, err)
	}
}

func TestLogAppendTime(t *testing.T) {
	cfg := smallConfig()
	cfg.LogAppendTime = true
	e := newEnv(t, cfg)
	d, l := e.openLog()
	defer d.Close()
	now := e.clock.Ms()
	res := mustAppend(t, l, testBatch(5, 3))
	if res.LogAppendTime != now || res.MaxTimestamp != now {
		t.Fatalf("append result %+v, want LogAppendTime %d", res, now)
	}
	e.clock.Advance(time.Second)
	mustAppend(t, l, testBatch(5, 3))
	hs := readAll(t, l, 0) // regionBatches validates the rewritten CRC
	if hs[1].MaxTimestamp != now+1000 || hs[1].Attributes&AttrLogAppendTime == 0 || hs[1].PartitionLeaderEpoch != 1 {
		t.Fatalf("stored header %+v", hs[1])
	}
	off, ts, found, err := l.OffsetForTimestamp(now + 1)
	if err != nil || !found || off != 3 || ts != now+1000 {
		t.Fatalf("OffsetForTimestamp = %d, %d, %v, %v", off, ts, found, err)
	}
	if off, ts := l.MaxTimestamp(); off != 3 || ts != now+1000 {
		t.Fatalf("MaxTimestamp = %d, %d", off, ts)
	}
}

// bruteOffsetForTimestamp is OffsetForTimestamp computed from every record
// of batches (whole, offsets assigned) at or above from.
func bruteOffsetForTimestamp(t testing.TB, batches [][]byte, from, ts int64) (offset, timestamp int64, found bool) {
	t.Helper()
	for _, b := range batches {
		h, err := ParseBatchHeader(b)
		if err == nil {
			err = eachRecordTime(b, h, int64(len(b)), func(o, rt int64) bool {
				if o >= from && rt >= ts {
					offset, timestamp, found = o, rt, true
				}
				return !found
			})
		}
		if err != nil {
			t.Fatalf("brute force: %v", err)
		}
		if found {
			return offset, timestamp, true
		}
	}
	return -1, -1, false
}

// checkOffsetsForTimestamps compares OffsetForTimestamp for every ts in
// [lo, hi] with the brute-force answer.
func checkOffsetsForTimestamps(t testing.TB, l *Log, batches [][]byte, lo, hi int64) {
	t.Helper()
	for ts := lo; ts <= hi; ts++ {
		off, at, found, err := l.OffsetForTimestamp(ts)
		wantOff, wantAt, wantFound := bruteOffsetForTimestamp(t, batches, l.LogStartOffset(), ts)
		if err != nil || off != wantOff || at != wantAt || found != wantFound {
			t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v, %v; want %d, %d, %v", ts, off, at, found, err, wantOff, wantAt, wantFound)
		}
	}
}

// TestOffsetForTimestampDamagedIndex: an index entry pointing too far, in
// either index, must not make the answer a later offset.
func TestOffsetForTimestampDamagedIndex(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.IndexIntervalBytes = 300 // an entry every few batches
	// Mappings are read-only: damage goes through the file, which they see.
	overwrite := func(x *indexFile, i, at int, b []byte) {
		if _, err := x.ref.f.WriteAt(b, int64(i*x.entrySize+at)); err != nil {
			t.Fatal(err)
		}
	}
	damages := map[string]func(s *segment){
		// Offset index entry 2 names entry 5's batch.
		"offset index": func(s *segment) { overwrite(s.index.indexFile, 2, 4, s.index.entry(5)[4:]) },
		// Time index entry 2 names entry 5's record.
		"time index offset": func(s *segment) { overwrite(s.timeIndex.indexFile, 2, 8, s.timeIndex.entry(5)[8:]) },
		// Time index entry 5's timestamp drops to just above entry 4's.
		"time index timestamp": func(s *segment) {
			t4, _ := s.timeIndex.at(4)
			overwrite(s.timeIndex.indexFile, 5, 0, binary.BigEndian.AppendUint64(nil, uint64(t4+1)))
		},
	}
	for name, damage := range damages {
		for _, logStart := range []int64{0, 7} {
			t.Run(fmt.Sprintf("%s/log start %d", name, logStart), func(t *testing.T) {
				e := newEnv(t, cfg)
				d, l := e.openLog()
				defer d.Close()
				var batches [][]byte
				for i := range 40 {
					b := testBatch(1000+int64(10*i), 3)
					mustAppend(t, l, b) // assigns b's offsets in place
					batches = append(batches, b)
				}
				if err := l.AdvanceLogStart(logStart); err != nil {
					t.Fatal(err)
				}
				s := l.segments[0]
				if l.SegmentCount() != 1 || s.index.entries < 6 || s.timeIndex.entries < 6 {
					t.Fatalf("want one segment with 6 index entries: %d segments, %d and %d entries",
						l.SegmentCount(), s.index.entries, s.timeIndex.entries)
				}
				damage(s)
				checkOffsetsForTimestamps(t, l, batches, 990, 1400)
			})
		}
	}
}

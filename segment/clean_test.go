package segment

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/riffle/riffle/segment/codec"
	"github.com/riffle/riffle/segment/codec/codectest"
	"github.com/riffle/riffle/segment/vfs"
)

// modelRecord is one appended record as the model keeps it.
type modelRecord struct {
	key, value []byte
	ts         int64
}

// storedRecords reads every batch of the log (Read, from log start to LEO)
// and returns each batch's header and records.
func storedRecords(t testing.TB, l *Log) ([]BatchHeader, [][]cleanRecord) {
	t.Helper()
	var hs []BatchHeader
	var recs [][]cleanRecord
	next, leo := l.LogStartOffset(), l.LogEndOffset()
	for next < leo {
		r, err := l.Read(next, 1<<20, leo, true)
		if err != nil || r.Len == 0 {
			t.Fatalf("read offset %d (LEO %d): %v, %d bytes", next, leo, err, r.Len)
		}
		buf := make([]byte, r.Len)
		_, err = r.File.ReadAt(buf, r.Pos)
		r.Release()
		if err != nil {
			t.Fatal(err)
		}
		for len(buf) > 0 {
			h, err := ParseBatchHeader(buf)
			if err == nil {
				h, err = validateStoredBatch(buf[:min(h.Size(), int64(len(buf)))], 1<<30)
			}
			if err != nil || h.BaseOffset < next && len(hs) > 0 {
				t.Fatalf("batch after offset %d: %v (base %d)", next, err, h.BaseOffset)
			}
			rs, err := batchRecords(buf[:h.Size()], h, 1<<30)
			if err != nil {
				t.Fatalf("batch %d: %v", h.BaseOffset, err)
			}
			hs, recs = append(hs, h), append(recs, rs)
			next, buf = h.LastOffset()+1, buf[h.Size():]
		}
	}
	return hs, recs
}

// cleanHistory appends a random keyed history (tombstones included, every
// codec) to l, advancing clock, and returns the model: offset -> record.
func cleanHistory(t testing.TB, rng *rand.Rand, l *Log, clock *fakeClock, batches, keys int, model map[int64]modelRecord) {
	for range batches {
		n := 1 + rng.IntN(5)
		recs := make([]Record, n)
		ts := clock.Ms()
		for i := range recs {
			recs[i].Key = []byte(fmt.Sprintf("key-%d", rng.IntN(keys)))
			if rng.IntN(5) > 0 {
				recs[i].Value = []byte(fmt.Sprintf("v%d", rng.Uint32()))
			}
			recs[i].TimestampDelta = int64(i)
		}
		ids := append([]int8{codec.None}, codectest.Compressed...)
		b := EncodeBatch(nil, BatchSpec{BaseTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
		if id := ids[rng.IntN(len(ids))]; id != codec.None {
			b = compressBatch(t, b, id, b[BatchHeaderSize:])
		}
		res, err := l.Append(b, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			model[res.BaseOffset+int64(i)] = modelRecord{r.Key, r.Value, ts + int64(i)}
		}
		clock.Advance(time.Duration(rng.IntN(50)) * time.Millisecond)
	}
}

// checkCleaned checks the log against the model after cleans up to
// firstDirty: every stored record is the one appended at its offset; each
// key's latest record is there, unless it is a tombstone past
// delete.retention.ms, and then no older record of the key is; below
// firstDirty a key has records beyond its latest there only in a
// segment's last batch (at most 5 records a batch).
func checkCleaned(t testing.TB, l *Log, model map[int64]modelRecord, firstDirty, nowMs int64) {
	t.Helper()
	latest, latestClean := map[string]int64{}, map[string]int64{}
	for o, r := range model {
		if o >= latest[string(r.key)] {
			latest[string(r.key)] = o
		}
		if o < firstDirty && o >= latestClean[string(r.key)] {
			latestClean[string(r.key)] = o
		}
	}
	_, recs := storedRecords(t, l)
	present := map[int64]bool{}
	seen := map[string]int64{}
	for _, rs := range recs {
		for _, r := range rs {
			m, ok := model[r.offset]
			if !ok || !bytes.Equal(m.key, r.key) || (m.value == nil) != r.tombstone {
				t.Fatalf("offset %d holds key %q (tombstone %v), appended %q %q", r.offset, r.key, r.tombstone, m.key, m.value)
			}
			present[r.offset] = true
			if r.offset < firstDirty && r.offset != latestClean[string(r.key)] {
				seen[string(r.key)]++
			}
		}
	}
	for k, o := range latest {
		if present[o] {
			continue
		}
		m := model[o]
		if m.value != nil || nowMs-m.ts <= l.Config().DeleteRetentionMs {
			t.Fatalf("key %s: latest record %d (tombstone %v) missing", k, o, m.value == nil)
		}
		for po := range present {
			if string(model[po].key) == k {
				t.Fatalf("key %s: tombstone %d removed but older record %d remains", k, o, po)
			}
		}
	}
	stale := 0
	for _, n := range seen {
		stale += int(n)
	}
	if segs := l.SegmentCount(); stale > segs*5 {
		t.Fatalf("%d stale records below %d over %d segments", stale, firstDirty, segs)
	}
}

func compactConfig() Config {
	c := smallConfig()
	c.SegmentBytes = 2048
	c.Compact = true
	c.MinCleanableDirtyRatio = 0
	c.DeleteRetentionMs = 500
	return c
}

// Random keyed histories, cleaned again and again while appends go on,
// then reopened: the log always matches the model.
func TestCleanModel(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 9))
			mem, dir := memDataDir(t)
			clock := newFakeClock()
			cfg := compactConfig()
			d, err := OpenDataDir(dir, func(string) Config { return cfg }, Options{FS: mem, Now: clock.Now, Logger: quietLogger})
			if err != nil {
				t.Fatal(err)
			}
			l, err := d.CreateLog("t", 0, cfg)
			if err != nil {
				t.Fatal(err)
			}
			model := map[int64]modelRecord{}
			firstDirty := int64(0)
			keys := 5 + rng.IntN(40)
			for round := range 12 {
				cleanHistory(t, rng, l, clock, 20+rng.IntN(60), keys, model)
				budget := int64(1 << 20)
				if round%3 == 2 {
					budget = 10 * offsetSlotBytes // a map that fills
				}
				res, err := l.Clean(CleanLimits{FirstDirty: firstDirty, StableOffset: l.LogEndOffset(), DedupeBufferBytes: budget})
				if err != nil {
					t.Fatal(err)
				}
				if res.FirstDirty < firstDirty {
					t.Fatalf("first dirty went back from %d to %d", firstDirty, res.FirstDirty)
				}
				firstDirty = res.FirstDirty
				checkCleaned(t, l, model, firstDirty, clock.Ms())
			}
			// A week on, everything rolled and cleaned: no tombstone stays.
			cleanHistory(t, rng, l, clock, 1, keys, model)
			clock.Advance(8 * 24 * time.Hour)
			if err := l.Tick(); err != nil {
				t.Fatal(err)
			}
			res, err := l.Clean(CleanLimits{FirstDirty: firstDirty, StableOffset: l.LogEndOffset(), DedupeBufferBytes: 1 << 20})
			if err != nil || res.FirstDirty != l.LogEndOffset() {
				t.Fatalf("final clean: %v, first dirty %d of %d", err, res.FirstDirty, l.LogEndOffset())
			}
			firstDirty = res.FirstDirty
			checkCleaned(t, l, model, firstDirty, clock.Ms())
			_, all := storedRecords(t, l)
			for _, rs := range all {
				for _, r := range rs {
					if r.tombstone {
						t.Fatalf("tombstone at %d outlived delete.retention.ms", r.offset)
					}
				}
			}
			before, _ := storedRecords(t, l)
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			for _, crash := range []bool{false, true} {
				fsys := vfs.FS(mem)
				if crash {
					fsys = mem.CrashClone()
				}
				d, err = OpenDataDir(dir, func(string) Config { return cfg }, Options{FS: fsys, Now: clock.Now, Logger: quietLogger})
				if err != nil {
					t.Fatal(err)
				}
				l = d.Log("t", 0)
				after, _ := storedRecords(t, l)
				if len(after) != len(before) {
					t.Fatalf("reopened (crash %v): %d batches, had %d", crash, len(after), len(before))
				}
				checkCleaned(t, l, model, firstDirty, clock.Ms())
				if err := d.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

package segment

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"sync"
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
// and returns each batch's header and records. Reads are not bounded by
// the LEO first seen: a clean racing the read may have dropped the batch
// holding the next offset, and the next batch kept may start above it.
func storedRecords(t testing.TB, l *Log) ([]BatchHeader, [][]cleanRecord) {
	t.Helper()
	var hs []BatchHeader
	var recs [][]cleanRecord
	next, leo := l.LogStartOffset(), l.LogEndOffset()
	for next < leo {
		r, err := l.Read(next, 1<<20, math.MaxInt64, true)
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
				var v Batch
				v, err = validateStoredBatch(buf[:min(h.Size(), int64(len(buf)))], 1<<30)
				h = v.Header()
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
		recs := randomRecords(rng, keys)
		ts := clock.Ms()
		b := randomCodec(t, rng, EncodeBatch(nil, BatchSpec{BaseTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs))
		res, err := l.Append(valid(b), 1)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			model[res.BaseOffset+int64(i)] = modelRecord{r.Key, r.Value, ts + int64(i)}
		}
		clock.Advance(time.Duration(rng.IntN(50)) * time.Millisecond)
	}
}

// randomRecords makes 1 to 5 records of random keys out of keys, a fifth
// of them tombstones.
func randomRecords(rng *rand.Rand, keys int) []Record {
	recs := make([]Record, 1+rng.IntN(5))
	for i := range recs {
		recs[i].Key = []byte(fmt.Sprintf("key-%d", rng.IntN(keys)))
		if rng.IntN(5) > 0 {
			recs[i].Value = []byte(fmt.Sprintf("v%d", rng.Uint32()))
		}
		recs[i].TimestampDelta = int64(i)
	}
	return recs
}

// randomCodec compresses batch b with a random codec, or none.
func randomCodec(t testing.TB, rng *rand.Rand, b []byte) []byte {
	ids := append([]int8{codec.None}, codectest.Compressed...)
	if id := ids[rng.IntN(len(ids))]; id != codec.None {
		return compressBatch(t, b, id, b[BatchHeaderSize:])
	}
	return b
}

// checkCleaned checks the log against the model after cleans up to
// firstDirty: every stored record is the one appended at its offset; each
// key's latest record is there, unless it is a tombstone past
// delete.retention.ms, and then no older record of the key is; below
// firstDirty a key has records beyond its latest there only in a
// segment's last batch (at most 5 records a batch).
func checkCleaned(t testing.TB, l *Log, model map[int64]modelRecord, firstDirty, nowMs int64) {
	t.Helper()
	_, recs := storedRecords(t, l)
	checkCleanedRecords(t, l, recs, model, firstDirty, nowMs)
}

// checkCleanedRecords is checkCleaned of the records recs read from l.
func checkCleanedRecords(t testing.TB, l *Log, recs [][]cleanRecord, model map[int64]modelRecord, firstDirty, nowMs int64) {
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

// compactEnv is a memory data directory of compacted logs on a fake clock.
type compactEnv struct {
	mem   *vfs.MemFS
	dir   string
	clock *fakeClock
	cfg   Config
}

func newCompactEnv(t testing.TB) *compactEnv {
	mem, dir := memDataDir(t)
	return &compactEnv{mem: mem, dir: dir, clock: newFakeClock(), cfg: compactConfig()}
}

// open opens the data directory on fsys (the env's own when nil).
func (e *compactEnv) open(t testing.TB, fsys vfs.FS) *DataDir {
	t.Helper()
	if fsys == nil {
		fsys = e.mem
	}
	d, err := OpenDataDir(e.dir, func(string) Config { return e.cfg }, Options{FS: fsys, Now: e.clock.Now, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (e *compactEnv) create(t testing.TB, d *DataDir, topic string) *Log {
	t.Helper()
	l, err := d.CreateLog(topic, 0, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Random keyed histories, cleaned again and again while appends go on,
// then reopened: the log always matches the model.
func TestCleanModel(t *testing.T) {
	for seed := range uint64(underRace(6, 3)) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 9))
			e := newCompactEnv(t)
			clock := e.clock
			d := e.open(t, nil)
			l := e.create(t, d, "t")
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
				fsys := vfs.FS(e.mem)
				if crash {
					fsys = e.mem.CrashClone()
				}
				d = e.open(t, fsys)
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

// recordSet is a log's records by offset: key and tombstone.
func recordSet(t testing.TB, l *Log) map[int64]string {
	set := map[int64]string{}
	_, recs := storedRecords(t, l)
	for _, rs := range recs {
		for _, r := range rs {
			set[r.offset] = fmt.Sprintf("%s/%v", r.key, r.tombstone)
		}
	}
	return set
}

// Power loss before every file operation that changes the disk during a
// clean: the log recovers with
// each segment group either as it was or as cleaned, never a mix, and
// holding every record the finished clean kept.
func TestCleanCrashAtEveryStep(t *testing.T) {
	// Thinned for the race detector: every 8th step, from a random first.
	stride := 1
	if thinForRace() {
		stride = 8
	}
	from := rand.IntN(stride)
	for step := from; ; step += stride {
		mem, dir := memDataDir(t)
		clock := newFakeClock()
		cfg := compactConfig()
		var ops int
		armed := false
		var crashed *vfs.MemFS
		fsys := vfs.Inject(mem, func(op vfs.Op, path string) error {
			switch op {
			case vfs.OpReadAt, vfs.OpReadDir, vfs.OpStat, vfs.OpSize, vfs.OpMap, vfs.OpUnmap, vfs.OpClose:
				return nil // changes nothing on disk
			}
			if armed {
				if ops == step {
					crashed = mem.CrashClone()
				}
				ops++
			}
			return nil
		})
		d, err := OpenDataDir(dir, func(string) Config { return cfg }, Options{FS: fsys, Now: clock.Now, Logger: quietLogger})
		if err != nil {
			t.Fatal(err)
		}
		l, err := d.CreateLog("t", 0, cfg)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(7, 7))
		model := map[int64]modelRecord{}
		cleanHistory(t, rng, l, clock, 80, 15, model)
		// A first clean leaves small segments that the second merges.
		first, err := l.Clean(CleanLimits{StableOffset: l.LogEndOffset(), DedupeBufferBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		cleanHistory(t, rng, l, clock, 40, 15, model)
		segsBefore := l.SegmentCount()
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
		l.background.Wait() // no roll's sync may count among the clean's steps
		old := recordSet(t, l)
		armed = true
		res, err := l.Clean(CleanLimits{FirstDirty: first.FirstDirty, StableOffset: l.LogEndOffset(), DedupeBufferBytes: 1 << 20})
		armed = false
		if err != nil {
			t.Fatal(err)
		}
		if merged := segsBefore - l.SegmentCount(); merged < 1 {
			t.Fatalf("the clean merged no segments (%d replaced); the test needs groups", res.Segments)
		}
		cleaned := recordSet(t, l)
		var ranges [][2]int64
		for _, s := range l.segments {
			ranges = append(ranges, [2]int64{s.base, s.next})
		}
		if crashed == nil {
			t.Logf("crashed at every %d of %d steps from %d", stride, step, from)
			return
		}
		d2, err := OpenDataDir(dir, func(string) Config { return cfg }, Options{FS: crashed, Now: clock.Now, Logger: quietLogger})
		if err != nil {
			t.Fatalf("step %d: reopen: %v", step, err)
		}
		got := recordSet(t, d2.Log("t", 0))
		for _, rg := range ranges {
			isOld, isNew := true, true
			for o := rg[0]; o < rg[1]; o++ {
				isOld = isOld && got[o] == old[o]
				isNew = isNew && got[o] == cleaned[o]
			}
			if !isOld && !isNew {
				t.Fatalf("step %d: offsets [%d, %d) are neither the old nor the cleaned records", step, rg[0], rg[1])
			}
		}
		checkCleaned(t, d2.Log("t", 0), model, 0, clock.Ms())
		_ = d2.Close()
		_ = d.Close()
	}
}

// FuzzCleanRewrite: a batch of any codec, rewritten with any subset of
// its records, is a sound stored batch holding exactly that subset, with
// the header fields Kafka preserves.
func FuzzCleanRewrite(f *testing.F) {
	f.Add([]byte("records"), uint8(0), uint16(0x5), int64(1000))
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8}, uint8(3), uint16(0), int64(-1))
	f.Fuzz(func(t *testing.T, data []byte, codecIdx uint8, mask uint16, baseTs int64) {
		n := 1 + len(data)%9
		recs := make([]Record, n)
		for i := range recs {
			recs[i] = Record{Key: []byte{byte(i)}, Value: data[:min(len(data), i*3)], TimestampDelta: int64(len(data) % (i + 2))}
			if i%4 == 3 {
				recs[i].Value = nil
			}
		}
		b := EncodeBatch(nil, BatchSpec{BaseTimestamp: baseTs, ProducerID: 42, ProducerEpoch: 3, BaseSequence: 17}, recs)
		SetBaseOffset(b, 1000)
		SetPartitionLeaderEpoch(b, 9)
		ids := append([]int8{codec.None}, codectest.Compressed...)
		if id := ids[int(codecIdx)%len(ids)]; id != codec.None {
			b = compressBatch(t, b, id, b[BatchHeaderSize:])
		}
		v, err := ValidateBatch(b, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		h := v.Header()
		all, err := batchRecords(b, h, 1<<30)
		if err != nil || len(all) != n {
			t.Fatalf("%d records: %v", len(all), err)
		}
		var kept []cleanRecord
		for i, r := range all {
			if mask&(1<<i) != 0 {
				kept = append(kept, r)
			}
		}
		out, err := rewriteBatch(nil, b, h, kept, false)
		if err != nil {
			t.Fatal(err)
		}
		v, err = validateStoredBatch(out, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		got := v.Header()
		if got.BaseOffset != 1000 || got.LastOffset() != h.LastOffset() || got.PartitionLeaderEpoch != 9 ||
			got.ProducerID != 42 || got.ProducerEpoch != 3 || got.BaseSequence != 17 || int(got.RecordCount) != len(kept) {
			t.Fatalf("header %+v from %+v keeping %d", got, h, len(kept))
		}
		if len(kept) > 0 && (got.Compression() != h.Compression() || got.BaseTimestamp != h.BaseTimestamp) {
			t.Fatalf("codec %d, base timestamp %d; was %d, %d", got.Compression(), got.BaseTimestamp, h.Compression(), h.BaseTimestamp)
		}
		back, err := batchRecords(out, got, 1<<30)
		if err != nil || len(back) != len(kept) {
			t.Fatalf("%d records back: %v", len(back), err)
		}
		for i := range back {
			if back[i].offset != kept[i].offset || back[i].timestamp != kept[i].timestamp || !bytes.Equal(back[i].raw, kept[i].raw) {
				t.Fatalf("record %d: %+v, kept %+v", i, back[i], kept[i])
			}
		}
	})
}

// The cleaner picks only compacted logs over their dirty ratio, never
// past the stable offset, and its checkpoint carries the first dirty
// offset across a restart.
func TestCleanerChoosesAndCheckpoints(t *testing.T) {
	mem, dir := memDataDir(t)
	clock := newFakeClock()
	cfg := compactConfig()
	plain := cfg
	plain.Compact = false
	open := func() *DataDir {
		d, err := OpenDataDir(dir, func(topic string) Config {
			if topic == "plain" {
				return plain
			}
			return cfg
		}, Options{FS: mem, Now: clock.Now, Logger: quietLogger})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := open()
	rng := rand.New(rand.NewPCG(1, 1))
	for _, topic := range []string{"plain", "compact"} {
		l, err := d.CreateLog(topic, 0, map[bool]Config{true: plain, false: cfg}[topic == "plain"])
		if err != nil {
			t.Fatal(err)
		}
		cleanHistory(t, rng, l, clock, 100, 10, map[int64]modelRecord{})
	}
	stable := &fakeCleanerPartition{}
	stableOf := func(string, int32) (CleanerPartition, bool) { return stable, true }
	c, err := d.NewCleaner(DefaultCleanerConfig(), stableOf)
	if err != nil {
		t.Fatal(err)
	}
	if cleaned, err := c.CleanOnce(); cleaned || err != nil {
		t.Fatalf("cleaned %v (%v) with everything above the stable offset", cleaned, err)
	}
	stable.lso = math.MaxInt64
	sizes := map[string]int64{"plain": d.Log("plain", 0).SizeBytes(), "compact": d.Log("compact", 0).SizeBytes()}
	if cleaned, err := c.CleanOnce(); !cleaned || err != nil {
		t.Fatalf("cleaned %v: %v", cleaned, err)
	}
	if d.Log("plain", 0).SizeBytes() != sizes["plain"] || d.Log("compact", 0).SizeBytes() >= sizes["compact"] {
		t.Fatalf("sizes %d, %d; were %v", d.Log("plain", 0).SizeBytes(), d.Log("compact", 0).SizeBytes(), sizes)
	}
	if cleaned, _ := c.CleanOnce(); cleaned {
		t.Fatal("cleaned a clean log again")
	}
	if st := c.Stats(); st.Runs != 1 || st.BytesRead == 0 || st.BytesWritten == 0 || st.Errors != 0 {
		t.Fatalf("stats %+v", st)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = open()
	defer d.Close()
	c, err = d.NewCleaner(DefaultCleanerConfig(), stableOf)
	if err != nil {
		t.Fatal(err)
	}
	if cleaned, _ := c.CleanOnce(); cleaned {
		t.Fatal("the checkpoint was lost: cleaned again after a restart")
	}
	// Deleted and created again, the log is cleaned from its start.
	if err := d.DeleteLog("compact", 0); err != nil {
		t.Fatal(err)
	}
	l, err := d.CreateLog("compact", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cleanHistory(t, rng, l, clock, 30, 10, map[int64]modelRecord{})
	if cleaned, err := c.CleanOnce(); !cleaned || err != nil {
		t.Fatalf("the re-created log was not cleaned: %v", err)
	}
}

// A follower copying a cleaned leader from offset 0 takes its batches as
// they are: holes, fewer records than offsets, empty batches. Its log
// then reads back the same, and survives a reopen.
func TestReplicateCleanedLog(t *testing.T) {
	e := newCompactEnv(t)
	clock := e.clock
	d := e.open(t, nil)
	leader := e.create(t, d, "leader")
	model := map[int64]modelRecord{}
	cleanHistory(t, rand.New(rand.NewPCG(3, 3)), leader, clock, 200, 10, model)
	if _, err := leader.Clean(CleanLimits{StableOffset: leader.LogEndOffset(), DedupeBufferBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	follower := e.create(t, d, "follower")
	for next, leo := int64(0), leader.LogEndOffset(); next < leo; {
		r, err := leader.Read(next, 4096, leo, true)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, r.Len)
		if _, err := r.File.ReadAt(buf, r.Pos); err != nil {
			t.Fatal(err)
		}
		r.Release()
		batches, err := ValidateBatches(buf, math.MaxInt32)
		if err != nil || len(batches) == 0 {
			t.Fatalf("fetched batches from %d: %d, %v", next, len(batches), err)
		}
		if _, sync, err := follower.WriteReplicated(batches); err != nil || sync.Wait() != nil {
			t.Fatalf("replicate batches from %d: %v", next, err)
		}
		next = batches[len(batches)-1].Header().LastOffset() + 1
	}
	want, got := recordSet(t, leader), recordSet(t, follower)
	if len(want) >= len(model) || fmt.Sprint(want) != fmt.Sprint(got) || follower.LogEndOffset() != leader.LogEndOffset() {
		t.Fatalf("follower holds %d records to LEO %d, leader %d to %d (of %d appended)",
			len(got), follower.LogEndOffset(), len(want), leader.LogEndOffset(), len(model))
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = e.open(t, e.mem.CrashClone())
	defer d.Close()
	if again := recordSet(t, d.Log("follower", 0)); fmt.Sprint(again) != fmt.Sprint(want) {
		t.Fatalf("reopened follower holds %d records, want %d", len(again), len(want))
	}
}

// The throttle holds the cleaners to their byte rate.
func TestCleanerThrottle(t *testing.T) {
	th := throttler{rate: 10 << 20, now: time.Now, stop: make(chan struct{})}
	start := time.Now()
	for range 4 {
		if err := th.wait(1 << 20); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took < 350*time.Millisecond {
		t.Fatalf("4 MiB at 10 MiB/s took %v", took)
	}
	close(th.stop)
	if err := th.wait(1); !errors.Is(err, errCleanerStopped) {
		t.Fatalf("after stop: %v", err)
	}
}

// min.compaction.lag.ms keeps segments with newer records out of the
// clean; without a lag, records timestamped ahead of the clock are
// cleaned; max.compaction.lag.ms makes a dirty log overdue.
func TestCleanCompactionLags(t *testing.T) {
	e := newCompactEnv(t)
	clock, cfg := e.clock, e.cfg
	d := e.open(t, nil)
	defer d.Close()
	l := e.create(t, d, "t")
	clock.Advance(time.Hour) // records an hour ahead of the clock below
	cleanHistory(t, rand.New(rand.NewPCG(5, 5)), l, clock, 100, 10, map[int64]modelRecord{})
	clock.Advance(-time.Hour)
	if dt, _ := l.Dirtiness(0, math.MaxInt64); dt.DirtyBytes == 0 || dt.Overdue {
		t.Fatalf("no lag: %+v", dt)
	}
	lagged := cfg
	lagged.MinCompactionLagMs = time.Minute.Milliseconds()
	if err := l.SetConfig(lagged); err != nil {
		t.Fatal(err)
	}
	if dt, _ := l.Dirtiness(0, math.MaxInt64); dt.DirtyBytes != 0 || dt.FirstUncleanable != 0 {
		t.Fatalf("every segment is within min.compaction.lag.ms: %+v", dt)
	}
	clock.Advance(2 * time.Hour)
	lagged.MaxCompactionLagMs = time.Minute.Milliseconds()
	if err := l.SetConfig(lagged); err != nil {
		t.Fatal(err)
	}
	if dt, _ := l.Dirtiness(0, math.MaxInt64); dt.DirtyBytes == 0 || !dt.Overdue {
		t.Fatalf("past both lags: %+v", dt)
	}
}

// Cleans run while appends, reads, retention ticks and the cleaner's own
// bookkeeping go on: no race (go test -race), and every read sees whole,
// sound batches.
func TestCleanConcurrent(t *testing.T) {
	e := newCompactEnv(t)
	d := e.open(t, nil)
	defer d.Close()
	l := e.create(t, d, "t")
	model := map[int64]modelRecord{}
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // appender
		defer wg.Done()
		rng := rand.New(rand.NewPCG(8, 8))
		for i := 0; i < 300; i++ {
			local := map[int64]modelRecord{}
			cleanHistory(t, rng, l, e.clock, 1, 20, local)
			mu.Lock()
			maps.Copy(model, local)
			mu.Unlock()
		}
		close(stop)
	}()
	go func() { // reader
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			storedRecords(t, l)
			_ = l.Tick()
		}
	}()
	firstDirty := int64(0)
	for done := false; !done; {
		select {
		case <-stop:
			done = true
		default:
		}
		res, err := l.Clean(CleanLimits{FirstDirty: firstDirty, StableOffset: l.LogEndOffset(), DedupeBufferBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		firstDirty = res.FirstDirty
	}
	wg.Wait()
	checkCleaned(t, l, model, 0, e.clock.Ms())
}

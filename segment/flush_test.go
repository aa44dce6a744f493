package segment

import (
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riffle/riffle/segment/vfs"
)

func TestFlushPolicies(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.FlushMessages = 10
	cfg.FlushMs = 5000
	e := newEnv(t, cfg)
	d, l := e.openLog()
	defer d.Close()
	appendN(t, l, 3, 3, 0)
	if rp := l.RecoveryPoint(); rp != 0 {
		t.Fatalf("recovery point %d before flush.messages reached", rp)
	}
	appendN(t, l, 1, 3, 0) // 12 records >= flush.messages
	if rp := l.RecoveryPoint(); rp != 12 {
		t.Fatalf("recovery point %d after flush.messages, want 12", rp)
	}
	appendN(t, l, 1, 1, 0)
	if err := l.Tick(); err != nil {
		t.Fatal(err)
	}
	if rp := l.RecoveryPoint(); rp != 12 {
		t.Fatalf("recovery point %d before flush.ms passed", rp)
	}
	e.clock.Advance(5 * time.Second)
	if err := l.Tick(); err != nil {
		t.Fatal(err)
	}
	if rp := l.RecoveryPoint(); rp != 13 {
		t.Fatalf("recovery point %d after flush.ms, want 13", rp)
	}
}

// FlushIfDue flushes when the oldest unsynced append is flush.ms old, not
// a tick later, and is quiet on a closed log.
func TestFlushIfDue(t *testing.T) {
	cfg := smallConfig()
	cfg.FlushMs = 1000
	e := newEnv(t, cfg)
	d, l := e.openLog()
	appendN(t, l, 2, 1, 0)
	e.clock.Advance(999 * time.Millisecond)
	appendN(t, l, 1, 1, 0)
	if err := l.FlushIfDue(); err != nil {
		t.Fatal(err)
	}
	if rp := l.RecoveryPoint(); rp != 0 {
		t.Fatalf("recovery point %d before flush.ms passed", rp)
	}
	e.clock.Advance(time.Millisecond)
	if err := l.FlushIfDue(); err != nil {
		t.Fatal(err)
	}
	if rp := l.RecoveryPoint(); rp != 3 {
		t.Fatalf("recovery point %d once the oldest append is flush.ms old, want 3", rp)
	}
	appendN(t, l, 1, 1, 0) // the clock of the next flush starts here
	e.clock.Advance(999 * time.Millisecond)
	if err := l.FlushIfDue(); err != nil || l.RecoveryPoint() != 3 {
		t.Fatalf("flushed %v early: recovery point %d", err, l.RecoveryPoint())
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	if err := l.FlushIfDue(); err != nil {
		t.Fatalf("FlushIfDue on a closed log: %v", err)
	}
}

func TestRollBySegmentMs(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.SegmentMs = 60_000
	e := newEnv(t, cfg)
	d, l := e.openLog()
	defer d.Close()
	appendN(t, l, 2, 1, 0)
	e.clock.Advance(time.Minute)
	if err := l.Tick(); err != nil {
		t.Fatal(err)
	}
	if l.SegmentCount() != 2 || l.RecoveryPoint() != 2 {
		t.Fatalf("after segment.ms: %d segments, recovery point %d", l.SegmentCount(), l.RecoveryPoint())
	}
	if err := l.Tick(); err != nil { // an empty active segment does not roll
		t.Fatal(err)
	}
	appendN(t, l, 1, 1, 0)
	e.clock.Advance(time.Minute)
	appendN(t, l, 1, 1, 0) // rolls on append too
	if l.SegmentCount() != 3 {
		t.Fatalf("%d segments, want 3", l.SegmentCount())
	}
}

func TestGroupCommit(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 30
	cfg.IndexBytesMax = 1 << 20
	cfg.SyncEveryAppend = true
	e := newEnv(t, cfg)
	cfs := &countingFS{FS: vfs.OS, syncDelay: 2 * time.Millisecond}
	e.opts.FS = cfs
	d, l := e.openLog()
	defer d.Close()
	_, _, before := cfs.counts()
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				res, err := l.Append(valid(testBatch(0, 1)), 1)
				if err != nil {
					errs <- err
					return
				}
				if rp := l.RecoveryPoint(); rp <= res.LastOffset {
					errs <- errors.New("Append returned before its batch was durable")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	_, _, after := cfs.counts()
	syncs := after - before
	if syncs >= writers*each {
		t.Fatalf("%d syncs for %d appends: no group commit", syncs, writers*each)
	}
	t.Logf("%d appends, %d fdatasyncs", writers*each, syncs)
}

// TestWriteReplicated: batches are stored as given, offsets checked, and
// one fdatasync covers them all in the per-append sync mode.
func TestWriteReplicated(t *testing.T) {
	cfs, l := openSyncEveryAppend(t)
	var batches []Batch
	for i := range 3 {
		b := testBatch(100, 2)
		SetBaseOffset(b, int64(2*i))
		SetPartitionLeaderEpoch(b, 7)
		batches = append(batches, valid(b))
	}
	_, _, before := cfs.counts()
	n, sync, err := l.WriteReplicated(batches)
	if err == nil {
		err = sync.Wait()
	}
	if err != nil || n != 3 {
		t.Fatalf("wrote %d: %v", n, err)
	}
	if _, _, after := cfs.counts(); after-before > 2 { // the segment, and the epoch checkpoint
		t.Fatalf("%d syncs for one replicated write", after-before)
	}
	if l.LatestEpoch() != 7 || l.LogEndOffset() != 6 || l.RecoveryPoint() != 6 {
		t.Fatalf("epoch %d, LEO %d, recovery point %d", l.LatestEpoch(), l.LogEndOffset(), l.RecoveryPoint())
	}
	b := testBatch(100, 1)
	SetBaseOffset(b, 5)
	if n, _, err := l.WriteReplicated([]Batch{valid(b)}); !errors.Is(err, ErrOffsetMismatch) || n != 0 {
		t.Fatalf("below LEO: wrote %d: %v", n, err)
	}
	// A hole, as a compacted leader's log has, is taken.
	SetBaseOffset(b, 9)
	if n, sync, err := l.WriteReplicated([]Batch{valid(b)}); err != nil || n != 1 || sync.Wait() != nil || l.LogEndOffset() != 10 {
		t.Fatalf("after a hole: wrote %d: %v, LEO %d", n, err, l.LogEndOffset())
	}
	r, err := l.Read(0, math.MaxInt32, math.MaxInt64, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if hs := regionBatches(t, r); len(hs) != 4 || hs[0].PartitionLeaderEpoch != 7 || hs[3].BaseOffset != 9 {
		t.Fatalf("replicated batches not stored as given: %+v", hs)
	}
}

// TestSyncEveryAppendOneSyncEach: a lone appender pays one fdatasync per
// append, of the segment file only.
func TestSyncEveryAppendOneSyncEach(t *testing.T) {
	cfs, l := openSyncEveryAppend(t)
	mustAppend(t, l, testBatch(0, 1)) // first append also saves the epoch cache
	_, _, before := cfs.counts()
	appendN(t, l, 50, 1, 0)
	if _, _, after := cfs.counts(); after-before != 50 {
		t.Fatalf("%d syncs for 50 appends", after-before)
	}
}

// openSyncEveryAppend opens a log that syncs every append, on a filesystem
// that counts syncs; it is closed at the test's end.
func openSyncEveryAppend(t *testing.T) (*countingFS, *Log) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.SyncEveryAppend = true
	e := newEnv(t, cfg)
	cfs := &countingFS{FS: vfs.OS}
	e.opts.FS = cfs
	d, l := e.openLog()
	t.Cleanup(func() { d.Close() })
	return cfs, l
}

// TestWriteReplicatedRuns: a fetch answer's batches go to the file one
// write per run (adjacent, one epoch, within the segment), split where the
// epoch changes or the segment is full; what is stored reads back as sent,
// with index entries for every batch.
func TestWriteReplicatedRuns(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	e := newEnv(t, cfg)
	var logWrites atomic.Int64
	e.opts.FS = vfs.Inject(vfs.OS, func(op vfs.Op, path string) error {
		if op == vfs.OpWriteAt && strings.HasSuffix(path, logSuffix) {
			logWrites.Add(1)
		}
		return nil
	})
	d, l := e.openLog()
	defer d.Close()
	answer := func(from int64, epochs ...int32) []Batch {
		var all []byte
		for i, epoch := range epochs {
			b := testBatch(int64(i), 2)
			SetBaseOffset(b, from+int64(2*i))
			SetPartitionLeaderEpoch(b, epoch)
			all = append(all, b...)
		}
		batches, err := ValidateBatches(all, math.MaxInt32)
		if err != nil {
			t.Fatal(err)
		}
		return batches
	}
	write := func(bs []Batch) {
		t.Helper()
		if n, _, err := l.WriteReplicated(bs); err != nil || n != len(bs) {
			t.Fatalf("wrote %d of %d: %v", n, len(bs), err)
		}
	}
	write(answer(0, 3, 3, 3, 4, 4))
	if n := logWrites.Load(); n != 2 {
		t.Fatalf("%d writes for two runs", n)
	}
	// A small segment: the run is cut where the active segment is full.
	cfg.SegmentBytes = 3 * int64(len(testBatch(0, 2)))
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	write(answer(10, 4, 4, 4, 4, 4, 4, 4))
	checkContiguous(t, readAll(t, l, 0), 0, 24)
	if off, _, found, err := l.OffsetForTimestamp(4); err != nil || !found || off != 7 {
		t.Fatalf("time lookup in a run: offset %d found %v: %v", off, found, err)
	}
	// From an empty active segment too (a follower restarting its log).
	if err := l.TruncateFullyAndStartAt(100); err != nil {
		t.Fatal(err)
	}
	write(answer(100, 5, 5, 5, 5, 5, 5, 5))
	checkContiguous(t, readAll(t, l, 100), 100, 114)
	for _, s := range l.segments {
		if s.size > cfg.SegmentBytes {
			t.Errorf("segment %d holds %d bytes, over %d", s.base, s.size, cfg.SegmentBytes)
		}
	}
}

// An append that rolls the segment returns without waiting for the sealed
// segment's fdatasync (seconds of writeback on a busy disk, with every
// produce response on the connection queued behind it); that sync runs on
// its own and then raises the recovery point past the sealed segment.
func TestRollSyncsInBackground(t *testing.T) {
	var held atomic.Bool
	release := make(chan struct{})
	e := newEnv(t, smallConfig())
	e.opts.FS = vfs.Inject(vfs.OS, func(op vfs.Op, _ string) error {
		if op == vfs.OpSync && held.Load() {
			<-release
		}
		return nil
	})
	d, l := e.openLog()
	defer d.Close()
	first := mustAppend(t, l, testBatch(0, 3))
	segments := l.SegmentCount()
	held.Store(true)
	var rolled AppendResult
	appended := make(chan error, 1)
	go func() {
		var err error
		for err == nil && l.SegmentCount() == segments {
			rolled, err = l.Append(valid(testBatch(0, 3)), 1)
		}
		appended <- err
	}()
	select {
	case err := <-appended:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("the append that rolled waited for the held sync")
	}
	if rp := l.RecoveryPoint(); rp > first.LastOffset+1 {
		t.Fatalf("recovery point %d while every sync is held", rp)
	}
	held.Store(false)
	close(release)
	l.background.Wait()
	if rp := l.RecoveryPoint(); rp < rolled.BaseOffset {
		t.Fatalf("recovery point %d after the roll's sync, want at least the new segment's base %d", rp, rolled.BaseOffset)
	}
}

// With RollSyncInline (the metadata log) the append that rolls returns
// only once the sealed segment is durable.
func TestRollSyncInline(t *testing.T) {
	cfg := smallConfig()
	cfg.RollSyncInline = true
	e := newEnv(t, cfg)
	// Slow syncs: one started in the background would not be done yet.
	e.opts.FS = vfs.Inject(vfs.OS, func(op vfs.Op, _ string) error {
		if op == vfs.OpSync {
			time.Sleep(100 * time.Millisecond)
		}
		return nil
	})
	d, l := e.openLog()
	defer d.Close()
	segments := l.SegmentCount()
	var rolled AppendResult
	for l.SegmentCount() == segments {
		var err error
		if rolled, err = l.Append(valid(testBatch(0, 3)), 1); err != nil {
			t.Fatal(err)
		}
	}
	if rp := l.RecoveryPoint(); rp < rolled.BaseOffset {
		t.Fatalf("recovery point %d after the rolling append, want at least the new segment's base %d", rp, rolled.BaseOffset)
	}
}

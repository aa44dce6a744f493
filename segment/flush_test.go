package segment

import (
	"errors"
	"math"
	"sync"
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
				res, err := l.Append(testBatch(0, 1), 1)
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

func TestAppendReplicated(t *testing.T) {
	e := newEnv(t, smallConfig())
	d, l := e.openLog()
	defer d.Close()
	b := testBatch(100, 2)
	SetPartitionLeaderEpoch(b, 7)
	if _, err := l.AppendReplicated(b); err != nil {
		t.Fatal(err)
	}
	if l.LatestEpoch() != 7 || l.LogEndOffset() != 2 {
		t.Fatalf("epoch %d, LEO %d", l.LatestEpoch(), l.LogEndOffset())
	}
	b = testBatch(100, 1)
	SetBaseOffset(b, 1)
	if _, err := l.AppendReplicated(b); !errors.Is(err, ErrOffsetMismatch) {
		t.Fatalf("below LEO: %v", err)
	}
	// A hole, as a compacted leader's log has, is taken.
	SetBaseOffset(b, 5)
	if _, err := l.AppendReplicated(b); err != nil || l.LogEndOffset() != 6 {
		t.Fatalf("after a hole: %v, LEO %d", err, l.LogEndOffset())
	}
	r, err := l.Read(0, math.MaxInt32, math.MaxInt64, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if hs := regionBatches(t, r); len(hs) != 2 || hs[0].PartitionLeaderEpoch != 7 || hs[1].BaseOffset != 5 {
		t.Fatalf("replicated batch not stored as given: %+v", hs)
	}
}

// TestSyncEveryAppendOneSyncEach: a lone appender pays one fdatasync per
// append, of the segment file only.
func TestSyncEveryAppendOneSyncEach(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.SyncEveryAppend = true
	e := newEnv(t, cfg)
	cfs := &countingFS{FS: vfs.OS}
	e.opts.FS = cfs
	d, l := e.openLog()
	defer d.Close()
	mustAppend(t, l, testBatch(0, 1)) // first append also saves the epoch cache
	_, _, before := cfs.counts()
	appendN(t, l, 50, 1, 0)
	if _, _, after := cfs.counts(); after-before != 50 {
		t.Fatalf("%d syncs for 50 appends", after-before)
	}
}

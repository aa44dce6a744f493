package segment

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func deletedFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+deletedSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRetentionByTime(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionMs = 60_000
	e := newEnv(t, cfg)
	d, l := e.openLog()
	defer d.Close()
	now := e.clock.Ms()
	appendN(t, l, 20, 3, now-120_000) // old records
	appendN(t, l, 20, 3, now)         // fresh records
	before := l.SegmentCount()
	if err := l.Tick(); err != nil {
		t.Fatal(err)
	}
	if l.SegmentCount() >= before {
		t.Fatalf("no segment deleted: %d", l.SegmentCount())
	}
	// Every remaining segment but the first holds only fresh records, and
	// the first fresh record is still readable.
	if l.LogStartOffset() > 60 {
		t.Fatalf("log start %d passed the first fresh record 60", l.LogStartOffset())
	}
	if l.LogStartOffset() == 0 {
		t.Fatal("log start did not move")
	}
	checkContiguous(t, readAll(t, l, l.LogStartOffset()), l.LogStartOffset(), 120)
	if len(deletedFiles(t, l.Dir())) == 0 {
		t.Fatal("no .deleted files")
	}
	e.clock.Advance(time.Duration(cfg.FileDeleteDelayMs) * time.Millisecond)
	if err := l.Tick(); err != nil {
		t.Fatal(err)
	}
	if m := deletedFiles(t, l.Dir()); len(m) != 0 {
		t.Fatalf(".deleted files remain after the delay: %v", m)
	}
}

func TestRetentionNeverDeletesActive(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionMs = 1
	e := newEnv(t, cfg)
	d, l := e.openLog()
	defer d.Close()
	appendN(t, l, 3, 1, 0)
	e.clock.Advance(time.Hour)
	cfg.SegmentMs = math.MaxInt64 // no roll by age either
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if err := l.Tick(); err != nil {
		t.Fatal(err)
	}
	if l.SegmentCount() != 1 || l.LogStartOffset() != 0 {
		t.Fatalf("active segment deleted: %d segments, log start %d", l.SegmentCount(), l.LogStartOffset())
	}
}

func TestRetentionBySize(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionBytes = 2048
	e := newEnv(t, cfg)
	d, l := e.openLog()
	defer d.Close()
	appendN(t, l, 60, 3, 1000)
	if err := l.Tick(); err != nil {
		t.Fatal(err)
	}
	size := l.SizeBytes()
	if size > 2048+cfg.SegmentBytes || size < 2048-cfg.SegmentBytes {
		t.Fatalf("size %d after retention.bytes 2048", size)
	}
	checkContiguous(t, readAll(t, l, l.LogStartOffset()), l.LogStartOffset(), 180)
}

func TestDeletionWaitsForRegion(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionBytes = 0
	e := newEnv(t, cfg)
	d, l := e.openLog()
	defer d.Close()
	appendN(t, l, 20, 3, 1000)
	r, err := l.Read(0, 1<<20, math.MaxInt64, true)
	if err != nil {
		t.Fatal(err)
	}
	want := regionBatches(t, r)
	if err := l.Tick(); err != nil { // retention deletes the segment of r
		t.Fatal(err)
	}
	if l.LogStartOffset() == 0 {
		t.Fatal("retention did not delete the first segment")
	}
	e.clock.Advance(time.Hour)
	if err := l.Tick(); err != nil {
		t.Fatal(err)
	}
	// The file is renamed but still open and readable through the region.
	if got := regionBatches(t, r); len(got) != len(want) {
		t.Fatalf("region now has %d batches, had %d", len(got), len(want))
	}
	if m := deletedFiles(t, l.Dir()); !containsSuffix(m, "00000000000000000000.log.deleted") {
		t.Fatalf("held segment unlinked early: %v", m)
	}
	r.Release()
	if err := l.Tick(); err != nil {
		t.Fatal(err)
	}
	if m := deletedFiles(t, l.Dir()); len(m) != 0 {
		t.Fatalf("not unlinked after release: %v", m)
	}
}

func containsSuffix(names []string, suffix string) bool {
	for _, n := range names {
		if strings.HasSuffix(n, suffix) {
			return true
		}
	}
	return false
}

func TestTruncateTo(t *testing.T) {
	e := newEnv(t, smallConfig())
	d, l := e.openLog()
	defer d.Close()
	appendN(t, l, 40, 3, 1000)
	if err := l.AssignEpochStart(2, 60); err != nil {
		t.Fatal(err)
	}
	segments := l.SegmentCount()
	if err := l.TruncateTo(61); err != nil { // inside batch 60..62: the whole batch goes
		t.Fatal(err)
	}
	if l.LogEndOffset() != 60 || l.SegmentCount() >= segments {
		t.Fatalf("after TruncateTo(61): LEO %d, %d of %d segments", l.LogEndOffset(), l.SegmentCount(), segments)
	}
	if l.RecoveryPoint() > 60 {
		t.Fatalf("recovery point %d above LEO", l.RecoveryPoint())
	}
	if l.LatestEpoch() != 1 {
		t.Fatalf("epoch cache not truncated: latest %d", l.LatestEpoch())
	}
	checkContiguous(t, readAll(t, l, 0), 0, 60)
	if _, ts := l.MaxTimestamp(); ts != 1192 {
		t.Fatalf("max timestamp after truncation %d, want 1192", ts)
	}
	// Appends continue from the new LEO, into the truncated segment.
	if r := mustAppend(t, l, testBatch(2000, 2)); r.BaseOffset != 60 {
		t.Fatalf("append after truncation at %d", r.BaseOffset)
	}
	checkContiguous(t, readAll(t, l, 0), 0, 62)

	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = e.open()
	defer d.Close()
	l = d.Log("my.topic-x", 3)
	checkContiguous(t, readAll(t, l, 0), 0, 62)

	// Below log start: the log restarts empty there.
	if err := l.TruncateTo(0); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 0 || l.SegmentCount() != 1 {
		t.Fatalf("after TruncateTo(0): LEO %d, %d segments", l.LogEndOffset(), l.SegmentCount())
	}
	if r := mustAppend(t, l, testBatch(2000, 2)); r.BaseOffset != 0 {
		t.Fatalf("append after full truncation at %d", r.BaseOffset)
	}
}

// A truncation at LEO removes nothing but still drops an epoch that starts
// there with no batch (a leader that appended nothing before losing its
// leadership): kept, it would be the follower's last fetched epoch forever.
func TestTruncateAtLEODropsEmptyEpoch(t *testing.T) {
	e := newEnv(t, smallConfig())
	d, l := e.openLog()
	defer d.Close()
	appendN(t, l, 10, 3, 1000)
	leo := l.LogEndOffset()
	if err := l.AssignEpochStart(4, leo); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTo(leo); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != leo || l.LatestEpoch() != 1 {
		t.Fatalf("after TruncateTo(LEO): LEO %d latest epoch %d, want %d and 1", l.LogEndOffset(), l.LatestEpoch(), leo)
	}
}

func TestDeleteLog(t *testing.T) {
	e := newEnv(t, smallConfig())
	d, l := e.openLog()
	defer d.Close()
	appendN(t, l, 10, 3, 1000)
	r, err := l.Read(0, 1<<20, math.MaxInt64, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteLog("my.topic-x", 3); err != nil {
		t.Fatal(err)
	}
	if d.Log("my.topic-x", 3) != nil {
		t.Fatal("deleted log still open")
	}
	if _, err := l.Append(valid(testBatch(1, 1)), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("append to deleted log: %v", err)
	}
	doomed, _ := filepath.Glob(filepath.Join(e.path, "my.topic-x-3.*-delete"))
	if len(doomed) != 1 {
		t.Fatalf("renamed directory: %v", doomed)
	}
	regionBatches(t, r) // still readable
	r.Release()
	if _, err := os.Stat(doomed[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("deleted log directory not removed after release: %v", err)
	}
}

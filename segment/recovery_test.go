package segment

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/riffle/riffle/segment/vfs"
)

func TestCleanRestartReadsNoRecordBytes(t *testing.T) {
	e := newEnv(t, smallConfig())
	d, l := e.openLog()
	appendN(t, l, 60, 3, 1000)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	cfs := &countingFS{FS: vfs.OS}
	e.opts.FS = cfs
	d = e.open()
	defer d.Close()
	l = d.Log("my.topic-x", 3)
	reads, maps, _ := cfs.counts()
	if maps != 0 {
		t.Fatalf("clean open mapped %d log files", maps)
	}
	// Only the headers after each segment's last index entry: at most the
	// batches of one index interval per segment.
	segs := int64(l.SegmentCount())
	perSegment := (int64(e.cfg.IndexIntervalBytes)/testBatchSize(t) + 2) * BatchHeaderSize
	if reads > segs*perSegment {
		t.Fatalf("clean open read %d log bytes, want at most %d header bytes", reads, segs*perSegment)
	}
	if l.LogEndOffset() != 180 {
		t.Fatalf("LEO %d", l.LogEndOffset())
	}
}

// crash leaves the data directory as a kill would: no clean-shutdown marker,
// preallocated indexes, the recovery point of the last checkpoint.
func crash(t *testing.T, d *DataDir) {
	t.Helper()
	d.Logs(func(_ string, _ int32, l *Log) { l.abandon() })
}

func TestUncleanRestartCutsCorruptTail(t *testing.T) {
	e := newEnv(t, smallConfig())
	d, l := e.openLog()
	appendN(t, l, 20, 3, 1000)
	if err := d.CheckpointRecoveryPoints(); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 40, 3, 2000)
	dir := l.Dir()
	crash(t, d)

	// Flip a byte inside the records of batch 45 (offsets 135..137).
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	var victim string
	var pos int64
	for _, name := range logs {
		f, err := os.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		buf, _ := os.ReadFile(name)
		for p := int64(0); p < int64(len(buf)); {
			h, _ := ParseBatchHeader(buf[p:])
			if h.BaseOffset == 135 {
				victim, pos = name, p
				buf[p+BatchHeaderSize+3] ^= 0xff
				if _, err := f.WriteAt(buf[p+BatchHeaderSize+3:p+BatchHeaderSize+4], p+BatchHeaderSize+3); err != nil {
					t.Fatal(err)
				}
			}
			p += h.Size()
		}
		f.Close()
	}
	if victim == "" {
		t.Fatal("batch 135 not found")
	}

	cfs := &countingFS{FS: vfs.OS}
	e.opts.FS = cfs
	d = e.open()
	defer d.Close()
	l = d.Log("my.topic-x", 3)
	if l.LogEndOffset() != 135 {
		t.Fatalf("LEO after recovery %d, want 135 (before the corrupt batch)", l.LogEndOffset())
	}
	if st, _ := os.Stat(victim); st.Size() != pos {
		t.Fatalf("corrupt segment is %d bytes, want cut at %d", st.Size(), pos)
	}
	if later, _ := filepath.Glob(filepath.Join(dir, "*.log")); filepath.Base(later[len(later)-1]) != filepath.Base(victim) {
		t.Fatalf("segments after the corrupt one kept: %v", later)
	}
	if _, maps, _ := cfs.counts(); maps == 0 {
		t.Fatal("recovery mapped no log file")
	}
	checkContiguous(t, readAll(t, l, 0), 0, 135)
	if r := mustAppend(t, l, testBatch(3000, 1)); r.BaseOffset != 135 {
		t.Fatalf("append after recovery at %d", r.BaseOffset)
	}
}

func TestUncleanRestartSkipsDurablePrefix(t *testing.T) {
	e := newEnv(t, smallConfig())
	d, l := e.openLog()
	appendN(t, l, 60, 3, 1000)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := d.CheckpointRecoveryPoints(); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 2, 3, 2000)
	crash(t, d)

	cfs := &countingFS{FS: vfs.OS}
	e.opts.FS = cfs
	d = e.open()
	defer d.Close()
	l = d.Log("my.topic-x", 3)
	if l.LogEndOffset() != 186 {
		t.Fatalf("LEO %d, want 186", l.LogEndOffset())
	}
	if _, maps, _ := cfs.counts(); maps != 1 {
		t.Fatalf("recovery mapped %d log files, want only the last", maps)
	}
	checkContiguous(t, readAll(t, l, 0), 0, 186)
}

// A damaged or torn index under a clean-shutdown marker does not stop the
// open: it is checked against the log and rebuilt, or its whole entries kept.
func TestTornIndexIsRebuilt(t *testing.T) {
	for _, tc := range []struct {
		name, suffix string
		content      []byte
	}{
		{"entry past the log", indexSuffix, []byte{0, 0, 0, 9, 0x7f, 0, 0, 0}},
		{"torn offset entry", indexSuffix, []byte{0, 0, 0, 9, 0, 0, 0, 0x40, 1, 2, 3}},
		{"torn time entry", timeIndexSuffix, []byte{0, 0, 1, 0x8b, 0xcf, 0xe5, 0x68, 0, 0, 0, 0, 5, 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, smallConfig())
			d, l := e.openLog()
			appendN(t, l, 60, 3, 1000)
			dir := l.Dir()
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(segmentPath(dir, 0, tc.suffix), tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			d = e.open()
			defer d.Close()
			l = d.Log("my.topic-x", 3)
			checkContiguous(t, readAll(t, l, 0), 0, 180)
		})
	}
}

func TestLeftoversRemovedAtOpen(t *testing.T) {
	e := newEnv(t, smallConfig())
	d, l := e.openLog()
	appendN(t, l, 3, 1, 1000)
	dir := l.Dir()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	leftovers := []string{
		filepath.Join(dir, "00000000000000000007.log.deleted"),
		filepath.Join(dir, "00000000000000000099.index"),
		filepath.Join(dir, "leader-epoch-checkpoint.tmp"),
	}
	for _, n := range leftovers {
		if err := os.WriteFile(n, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(e.path, "gone-0.abc-delete"), 0o755); err != nil {
		t.Fatal(err)
	}
	d = e.open()
	defer d.Close()
	for _, n := range append(leftovers, filepath.Join(e.path, "gone-0.abc-delete")) {
		if _, err := os.Stat(n); err == nil {
			t.Errorf("%s not removed", n)
		}
	}
}

// An untrimmed (preallocated) index under a clean-shutdown marker must not be
// trusted: its zero padding would break lookups.
func TestCleanMarkerWithUntrimmedIndex(t *testing.T) {
	e := newEnv(t, smallConfig())
	d, l := e.openLog()
	appendN(t, l, 30, 3, 1000)
	crash(t, d)
	if err := os.WriteFile(filepath.Join(e.path, cleanShutdownFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	d = e.open()
	defer d.Close()
	l = d.Log("my.topic-x", 3)
	if l.LogEndOffset() != 90 {
		t.Fatalf("LEO %d, want 90", l.LogEndOffset())
	}
	for off := int64(0); off < 90; off += 7 {
		hs := readAll(t, l, off)
		if hs[0].BaseOffset > off || hs[0].LastOffset() < off {
			t.Fatalf("Read(%d) starts at batch %d..%d", off, hs[0].BaseOffset, hs[0].LastOffset())
		}
	}
}

// Segments that do not continue the one before (a hole, an overlap, an
// empty segment in the middle) do not stop the open: the log is the
// contiguous run from its first segment, what follows a hole or an overlap
// is deleted, and appends go on from there.
func TestRecoveryKeepsContiguousSegments(t *testing.T) {
	for _, tc := range []struct {
		name string
		// damage changes the log's files; it returns the LEO wanted and the
		// base offsets whose segment files must be gone.
		damage func(t *testing.T, dir string, bases []int64, leo int64) (int64, []int64)
	}{
		{"hole", func(t *testing.T, dir string, bases []int64, _ int64) (int64, []int64) {
			removeSegment(t, dir, bases[2])
			return bases[2], bases[3:]
		}},
		{"overlap", func(t *testing.T, dir string, bases []int64, _ int64) (int64, []int64) {
			copyFile(t, segmentPath(dir, bases[1], logSuffix), segmentPath(dir, bases[1]+1, logSuffix))
			return bases[2], append([]int64{bases[1] + 1}, bases[2:]...)
		}},
		{"empty segment in the middle", func(t *testing.T, dir string, bases []int64, leo int64) (int64, []int64) {
			if err := os.WriteFile(segmentPath(dir, bases[1]+1, logSuffix), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return leo, []int64{bases[1] + 1}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, smallConfig())
			d, l := e.openLog()
			appendN(t, l, 60, 3, 1000)
			var bases []int64
			for _, s := range l.segments {
				bases = append(bases, s.base)
			}
			if len(bases) < 5 {
				t.Fatalf("%d segments, want at least 5", len(bases))
			}
			dir, leo := l.Dir(), l.LogEndOffset()
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			wantLEO, gone := tc.damage(t, dir, bases, leo)
			d = e.open()
			defer d.Close()
			l = d.Log("my.topic-x", 3)
			checkContiguous(t, readAll(t, l, 0), 0, wantLEO)
			for _, base := range gone {
				if _, err := os.Stat(segmentPath(dir, base, logSuffix)); err == nil {
					t.Errorf("segment %d kept", base)
				}
			}
			appendN(t, l, 2, 3, 2000)
			checkContiguous(t, readAll(t, l, 0), 0, wantLEO+6)
		})
	}
}

func removeSegment(t *testing.T, dir string, base int64) {
	t.Helper()
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if err := os.Remove(segmentPath(dir, base, suffix)); err != nil {
			t.Fatal(err)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, b, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

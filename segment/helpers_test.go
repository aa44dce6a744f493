package segment

import (
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riffle/riffle/segment/vfs"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.UnixMilli(1_700_000_000_000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Ms() int64 { return c.Now().UnixMilli() }

// smallConfig rolls every ~1 KiB and indexes every ~100 bytes.
func smallConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 1024
	c.IndexIntervalBytes = 100
	c.IndexBytesMax = 4096
	c.FileDeleteDelayMs = 1000
	c.RetentionMs = -1
	return c
}

// testBatch is an uncompressed batch of n records with timestamps ts, ts+1, ...
func testBatch(ts int64, n int) []byte {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Value: []byte(fmt.Sprintf("value-%d-%d", ts, i)), TimestampDelta: int64(i)}
	}
	return EncodeBatch(nil, BatchSpec{BaseTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
}

type testEnv struct {
	t     *testing.T
	path  string
	cfg   Config
	clock *fakeClock
	opts  Options
}

func newEnv(t *testing.T, cfg Config) *testEnv {
	t.Helper()
	c := newFakeClock()
	return &testEnv{t: t, path: t.TempDir(), cfg: cfg, clock: c, opts: Options{Now: c.Now}}
}

// newCountingEnv is newEnv on a countingFS over the real filesystem.
func newCountingEnv(t *testing.T, cfg Config) (*testEnv, *countingFS) {
	e := newEnv(t, cfg)
	cfs := &countingFS{FS: vfs.OS}
	e.opts.FS = cfs
	return e, cfs
}

func (e *testEnv) open() *DataDir {
	e.t.Helper()
	d, err := OpenDataDir(e.path, func(string) Config { return e.cfg }, e.opts)
	if err != nil {
		e.t.Fatalf("OpenDataDir: %v", err)
	}
	return d
}

// openLog opens the data dir and the log "my.topic-x" partition 3.
func (e *testEnv) openLog() (*DataDir, *Log) {
	e.t.Helper()
	d := e.open()
	l, err := d.CreateLog("my.topic-x", 3, e.cfg)
	if err != nil {
		e.t.Fatalf("CreateLog: %v", err)
	}
	return d, l
}

// valid validates a batch the test built.
func valid(b []byte) Batch {
	v, err := ValidateBatch(b, math.MaxInt32)
	if err != nil {
		panic(fmt.Sprintf("test batch invalid: %v", err))
	}
	return v
}

// mustAppend appends b and waits for the sync a roll started in the
// background, so that the test sees the files' references settled.
func mustAppend(t *testing.T, l *Log, b []byte) AppendResult {
	t.Helper()
	res, err := l.Append(valid(b), 1)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	l.background.Wait()
	return res
}

// appendN appends count batches of recs records each, timestamps ts0 + 10*i.
func appendN(t *testing.T, l *Log, count, recs int, ts0 int64) []AppendResult {
	t.Helper()
	var out []AppendResult
	for i := range count {
		out = append(out, mustAppend(t, l, testBatch(ts0+int64(10*i), recs)))
	}
	return out
}

// regionBatches parses and validates the batches of a region.
func regionBatches(t *testing.T, r Region) []BatchHeader {
	t.Helper()
	buf := make([]byte, r.Len)
	if r.Len > 0 {
		if _, err := r.File.ReadAt(buf, r.Pos); err != nil {
			t.Fatalf("region ReadAt: %v", err)
		}
	}
	var hs []BatchHeader
	for len(buf) > 0 {
		h, err := ParseBatchHeader(buf)
		if err != nil || h.Size() > int64(len(buf)) {
			t.Fatalf("region does not end at a batch boundary: %v", err)
		}
		if _, err := ValidateBatch(buf[:h.Size()], math.MaxInt32); err != nil {
			t.Fatalf("region batch: %v", err)
		}
		hs = append(hs, h)
		buf = buf[h.Size():]
	}
	return hs
}

// readAll reads every batch from offset to LEO through Read.
func readAll(t *testing.T, l *Log, from int64) []BatchHeader {
	t.Helper()
	var all []BatchHeader
	for off := from; off < l.LogEndOffset(); {
		r, err := l.Read(off, 1<<20, math.MaxInt64, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		hs := regionBatches(t, r)
		r.Release()
		if len(hs) == 0 {
			t.Fatalf("Read(%d) below LEO %d returned nothing", off, l.LogEndOffset())
		}
		all = append(all, hs...)
		off = hs[len(hs)-1].LastOffset() + 1
	}
	return all
}

// checkContiguous checks that batches cover [from, end) without gaps.
func checkContiguous(t *testing.T, hs []BatchHeader, from, end int64) {
	t.Helper()
	next := from
	for _, h := range hs {
		if h.BaseOffset != next {
			t.Fatalf("batch at %d, want %d", h.BaseOffset, next)
		}
		next = h.LastOffset() + 1
	}
	if next != end {
		t.Fatalf("batches end at %d, want %d", next, end)
	}
}

// countingFS counts log-file reads, maps, index writes and syncs on top of
// the real FS.
type countingFS struct {
	vfs.FS
	mu          sync.Mutex
	logReads    int64 // bytes read from .log files with ReadAt
	logMaps     int   // read-only maps of .log files
	indexWrites int   // WriteAt calls on .index and .timeindex files
	syncs       int   // file syncs
	syncDelay   time.Duration
}

func (c *countingFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	isIndex := strings.HasSuffix(name, indexSuffix) || strings.HasSuffix(name, timeIndexSuffix)
	return &countingFile{File: f, fs: c, isLog: strings.HasSuffix(name, logSuffix), isIndex: isIndex}, nil
}

func (c *countingFS) counts() (reads int64, maps, syncs int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logReads, c.logMaps, c.syncs
}

type countingFile struct {
	vfs.File
	fs      *countingFS
	isLog   bool
	isIndex bool
}

func (f *countingFile) WriteAt(p []byte, off int64) (int, error) {
	if f.isIndex {
		f.fs.mu.Lock()
		f.fs.indexWrites++
		f.fs.mu.Unlock()
	}
	return f.File.WriteAt(p, off)
}

func (f *countingFile) ReadAt(p []byte, off int64) (int, error) {
	if f.isLog {
		f.fs.mu.Lock()
		f.fs.logReads += int64(len(p))
		f.fs.mu.Unlock()
	}
	return f.File.ReadAt(p, off)
}

func (f *countingFile) Map(length int, writable bool) ([]byte, error) {
	if f.isLog {
		f.fs.mu.Lock()
		f.fs.logMaps++
		f.fs.mu.Unlock()
	}
	return f.File.Map(length, writable)
}

func (f *countingFile) Sync() error {
	f.fs.mu.Lock()
	f.fs.syncs++
	delay := f.fs.syncDelay
	f.fs.mu.Unlock()
	if delay > 0 {
		// Models a disk flush's latency, so that appenders overlap it.
		time.Sleep(delay)
	}
	return f.File.Sync()
}

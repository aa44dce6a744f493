package segment

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/riffle/riffle/segment/vfs"
)

// writebackFS records the StartWriteback calls on .log files.
type writebackFS struct {
	vfs.FS
	mu    sync.Mutex
	calls []string // "<file> <off>+<n>"
}

type writebackFile struct {
	vfs.File
	fs *writebackFS
}

func (w *writebackFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := w.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return writebackFile{File: f, fs: w}, nil
}

func (f writebackFile) StartWriteback(off, n int64) error {
	if strings.HasSuffix(f.Name(), ".log") {
		f.fs.mu.Lock()
		f.fs.calls = append(f.fs.calls, fmt.Sprintf("%s %d+%d", filepath.Base(f.Name()), off, n))
		f.fs.mu.Unlock()
	}
	return f.File.StartWriteback(off, n)
}

func (w *writebackFS) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.calls
	w.calls = nil
	return c
}

// TestTickStartsWritebackOfNewBytes: each Tick asks the kernel to write out
// exactly what the active segment gained since the last Tick, so dirty
// pages never pile up into one burst.
func TestTickStartsWritebackOfNewBytes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 4096
	e := newEnv(t, cfg)
	wfs := &writebackFS{FS: vfs.OS}
	e.opts.FS = wfs
	d, l := e.openLog()
	defer d.Close()

	batch := testBatch(e.clock.Ms(), 3)
	mustAppend(t, l, append([]byte(nil), batch...))
	mustAppend(t, l, append([]byte(nil), batch...))
	if err := l.Tick(); err != nil {
		t.Fatal(err)
	}
	size := int64(len(batch))
	want := fmt.Sprintf("00000000000000000000.log 0+%d", 2*size)
	if got := wfs.take(); len(got) != 1 || got[0] != want {
		t.Fatalf("first tick: %q, want [%q]", got, want)
	}
	if err := l.Tick(); err != nil {
		t.Fatal(err)
	}
	if got := wfs.take(); len(got) != 0 {
		t.Fatalf("tick without appends: %q", got)
	}
	mustAppend(t, l, append([]byte(nil), batch...))
	if err := l.Tick(); err != nil {
		t.Fatal(err)
	}
	want = fmt.Sprintf("00000000000000000000.log %d+%d", 2*size, size)
	if got := wfs.take(); len(got) != 1 || got[0] != want {
		t.Fatalf("tick after one more append: %q, want [%q]", got, want)
	}

	// Appends that roll start the new active segment's mark at 0.
	for l.SegmentCount() == 1 {
		mustAppend(t, l, append([]byte(nil), batch...))
	}
	if err := l.Tick(); err != nil {
		t.Fatal(err)
	}
	got := wfs.take()
	if len(got) != 1 || !strings.HasSuffix(got[0], fmt.Sprintf(" 0+%d", l.active().size)) || strings.HasPrefix(got[0], "00000000000000000000") {
		t.Fatalf("tick after a roll: %q, want the new segment from 0", got)
	}
}

// TestAppendsStartWritebackPerChunk: once a writebackChunk has been
// appended since the last writeback, the append starts writeback of it on
// a goroutine of its own, without waiting for a Tick; a new segment's
// chunks are counted from its start.
func TestAppendsStartWritebackPerChunk(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 3 * writebackChunk
	e := newEnv(t, cfg)
	wfs := &writebackFS{FS: vfs.OS}
	e.opts.FS = wfs
	d, l := e.openLog()
	defer d.Close()

	records := make([]Record, 16)
	for i := range records {
		records[i] = Record{Value: make([]byte, 4000)}
	}
	batch := EncodeBatch(nil, BatchSpec{BaseTimestamp: e.clock.Ms(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, records)
	appendUntil := func(size int64) {
		t.Helper()
		for l.SegmentCount() == 1 && l.active().size < size {
			mustAppend(t, l, append([]byte(nil), batch...))
		}
	}
	appendUntil(writebackChunk - int64(len(batch)))
	if got := wfs.take(); len(got) != 0 {
		t.Fatalf("writeback below a chunk: %q", got)
	}
	appendUntil(writebackChunk)
	sizeThen := l.active().size // mustAppend awaited the writeback
	if file, got := span(t, wfs.take()); file != "00000000000000000000.log" || got != sizeThen {
		t.Fatalf("after a chunk: writeback of %s [0, %d), want [0, %d)", file, got, sizeThen)
	}
	for l.SegmentCount() == 1 {
		mustAppend(t, l, append([]byte(nil), batch...))
	}
	wfs.take()
	for l.active().size < writebackChunk {
		mustAppend(t, l, append([]byte(nil), batch...))
	}
	sizeThen = l.active().size
	if file, got := span(t, wfs.take()); file == "00000000000000000000.log" || got != sizeThen {
		t.Fatalf("after a chunk of the new segment: writeback of %s [0, %d), want the new segment's [0, %d)", file, got, sizeThen)
	}
}

// span checks that calls ask for one file's bytes from 0 on, piece after
// piece, and returns the file and where they end.
func span(t *testing.T, calls []string) (file string, end int64) {
	t.Helper()
	for _, c := range calls {
		var name string
		var off, n int64
		if _, err := fmt.Sscanf(c, "%s %d+%d", &name, &off, &n); err != nil || (file != "" && name != file) || off != end {
			t.Fatalf("writeback calls %q are not one file's pieces from 0", calls)
		}
		file, end = name, off+n
	}
	return file, end
}

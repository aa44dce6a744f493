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

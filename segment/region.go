package segment

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/riffle/riffle/segment/vfs"
)

// Region is a byte range of one segment file, starting at a batch boundary.
// It keeps the file open until Release; Release exactly once (copies of a
// Region share one reference). An empty region (Len 0) may have a nil File.
//
// For sendfile, File.OS() is the *os.File (nil on a memory filesystem: copy
// with File.ReadAt). Always send from Pos explicitly; never use the file's
// shared position. The bytes in [Pos, Pos+Len) never change while the region
// is held, except by TruncateTo below them (replica truncation), which a
// fetch racing it may observe as a short file.
type Region struct {
	File vfs.File
	Pos  int64
	Len  int64

	ref *fileRef
}

// Release drops the region's reference to its segment file.
func (r *Region) Release() {
	if r.ref != nil {
		r.ref.release()
		r.ref = nil
	}
}

// fileRef is a reference-counted open file: the segment holds one reference
// while the file is part of the log, every Region and in-flight fsync one
// more. The file is closed when the count reaches zero, so a file renamed to
// .deleted stays readable for as long as anyone refers to it.
type fileRef struct {
	f     vfs.File
	refs  atomic.Int64
	group *fileGroup
}

func (r *fileRef) acquire() *fileRef {
	if r.refs.Add(1) <= 1 {
		panic("segment: acquire of a closed file")
	}
	return r
}

func (r *fileRef) release() {
	switch n := r.refs.Add(-1); {
	case n == 0:
		// Close errors are not durability errors here: data is made durable
		// by explicit Sync calls before anyone relies on it.
		_ = r.f.Close()
		r.group.done()
	case n < 0:
		panic("segment: file released more often than acquired")
	}
}

func (r *fileRef) closed() bool { return r.refs.Load() == 0 }

// fileGroup counts the open files of one log, so that a deleted log's
// directory is removed only once the last of them is closed, and charges
// them to the data directory's open-file limit.
type fileGroup struct {
	limit *fileLimit

	mu         sync.Mutex
	open       int
	whenClosed func()
}

// openFile opens (creating) a file of the group, within the limit.
func (g *fileGroup) openFile(fsys vfs.FS, name string) (*fileRef, error) {
	if err := g.limit.take(); err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		g.limit.give()
		return nil, err
	}
	r := &fileRef{f: f, group: g}
	r.refs.Store(1)
	g.mu.Lock()
	g.open++
	g.mu.Unlock()
	return r, nil
}

func (g *fileGroup) done() {
	g.limit.give()
	g.mu.Lock()
	g.open--
	f := g.whenClosed
	if g.open == 0 {
		g.whenClosed = nil
	} else {
		f = nil
	}
	g.mu.Unlock()
	if f != nil {
		f()
	}
}

// onAllClosed runs f once no file of the group is open (at once if none is).
func (g *fileGroup) onAllClosed(f func()) {
	g.mu.Lock()
	if g.open > 0 {
		g.whenClosed = f
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	f()
}

// fileLimit bounds the segment and index files open in a data directory
// (Options.OpenFilesMax); nil is unlimited.
type fileLimit struct {
	max  int64
	open atomic.Int64
}

func newFileLimit(n int64) *fileLimit {
	if n == 0 {
		return nil
	}
	return &fileLimit{max: n}
}

func (l *fileLimit) take() error {
	if l == nil {
		return nil
	}
	if l.open.Add(1) > l.max {
		l.open.Add(-1)
		return fmt.Errorf("%w: %d files open", ErrOpenFilesLimit, l.max)
	}
	return nil
}

func (l *fileLimit) give() {
	if l != nil {
		l.open.Add(-1)
	}
}

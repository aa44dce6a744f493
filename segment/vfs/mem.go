package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrMappedGrow is returned when a write, truncate or allocate would have to
// move the memory behind a live mapping of a MemFS file. A real mapping
// survives the file growing; a Go slice cannot follow a reallocation, so a
// mapped MemFS file may grow only within the capacity it had when mapped:
// size files before mapping them (as preallocated indexes are).
var ErrMappedGrow = errors.New("memfs: file cannot grow past its capacity while mapped")

// ErrSparseMap is returned when a writable mapping would cover bytes that no
// write or Allocate backed: on a real disk a store into such a page needs a
// block, and when the disk is full the page fault kills the process with
// SIGBUS. Allocate before mapping writable.
var ErrSparseMap = errors.New("memfs: writable mapping over unallocated bytes")

// MemFS is a memory filesystem that models what survives power loss, as a
// strict filesystem does: file data is durable once File.Sync returns, and a
// directory entry (create, rename, remove) once FS.SyncDir of its directory
// returns. CrashClone gives the state a machine would boot with.
//
// Paths are slash-separated; relative paths are taken from the root. Safe for
// concurrent use; bytes reached through Map are not locked, as with mmap.
type MemFS struct {
	mu   sync.Mutex
	root *memNode
}

// memNode is an inode: a directory or a regular file.
type memNode struct {
	dir     bool
	modTime time.Time

	// Directory: the entries now, and the entries as of the last SyncDir.
	children, durableChildren map[string]*memNode

	// File: the contents now (which Map aliases), and as of the last Sync.
	data, durable []byte
	// dirtyFrom is the lowest offset changed since the last Sync.
	dirtyFrom int64
	// backed is how many leading bytes are allocated (written or
	// Allocated); a file grown by Truncate is sparse past it. Holes further
	// in are not tracked: only the leading run counts.
	backed int64
	maps   []memMap // live mappings
}

type memMap struct {
	length   int
	writable bool
}

// writeMapped reports whether a live mapping can store into the file.
func (n *memNode) writeMapped() bool {
	for _, mm := range n.maps {
		if mm.writable {
			return true
		}
	}
	return false
}

// NewMemFS returns an empty memory filesystem holding only the root directory.
func NewMemFS() *MemFS { return &MemFS{root: newDirNode()} }

func newDirNode() *memNode {
	return &memNode{dir: true, modTime: time.Now(), children: map[string]*memNode{}, durableChildren: map[string]*memNode{}}
}

// CrashClone returns a new, independent MemFS holding what would be on disk
// after power loss now: synced file data under durable directory entries.
// The receiver is left as it is, so a log still running on it cannot touch
// the clone.
func (m *MemFS) CrashClone() *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[*memNode]*memNode{}
	return &MemFS{root: crashCopy(m.root, seen)}
}

// crashCopy copies the durable state of n; seen keeps an inode reachable by
// two durable names (a rename synced on one side only) one inode.
func crashCopy(n *memNode, seen map[*memNode]*memNode) *memNode {
	if c, ok := seen[n]; ok {
		return c
	}
	if !n.dir {
		c := &memNode{modTime: n.modTime, data: clone(n.durable), durable: clone(n.durable),
			dirtyFrom: int64(len(n.durable)), backed: min(n.backed, int64(len(n.durable)))}
		seen[n] = c
		return c
	}
	c := newDirNode()
	c.modTime = n.modTime
	seen[n] = c
	for name, child := range n.durableChildren {
		cc := crashCopy(child, seen)
		c.children[name] = cc
		c.durableChildren[name] = cc
	}
	return c
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func splitPath(name string) []string {
	p := path.Clean("/" + name)
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

// lookup walks to name; the caller holds m.mu.
func (m *MemFS) lookup(name string) (*memNode, error) {
	n := m.root
	for _, part := range splitPath(name) {
		if !n.dir {
			return nil, syscall.ENOTDIR
		}
		c, ok := n.children[part]
		if !ok {
			return nil, fs.ErrNotExist
		}
		n = c
	}
	return n, nil
}

// parent returns name's directory node and base name; the caller holds m.mu.
func (m *MemFS) parent(name string) (*memNode, string, error) {
	parts := splitPath(name)
	if len(parts) == 0 {
		return nil, "", fs.ErrInvalid
	}
	dir, err := m.lookup(strings.Join(parts[:len(parts)-1], "/"))
	if err != nil {
		return nil, "", err
	}
	if !dir.dir {
		return nil, "", syscall.ENOTDIR
	}
	return dir, parts[len(parts)-1], nil
}

// OpenFile opens or creates a regular file. O_CREATE, O_EXCL, O_TRUNC and
// the access mode are honoured; O_APPEND is refused, as os refuses WriteAt on
// such files.
func (m *MemFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if flag&os.O_APPEND != 0 {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	n, ok := dir.children[base]
	switch {
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case ok && n.dir:
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	case !ok && flag&os.O_CREATE == 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case !ok:
		n = &memNode{modTime: time.Now()}
		dir.children[base] = n
	}
	writable := flag&(os.O_WRONLY|os.O_RDWR) != 0
	if flag&os.O_TRUNC != 0 && writable {
		if err := n.resize(0); err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
	}
	return &memFile{fs: m, node: n, name: name, writable: writable}, nil
}

// Remove removes a file or an empty directory.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent(name)
	if err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	n, ok := dir.children[base]
	if !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if n.dir && len(n.children) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
	}
	delete(dir.children, base)
	return nil
}

// RemoveAll removes name and everything under it; a missing name is no error.
func (m *MemFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &fs.PathError{Op: "removeall", Path: name, Err: err}
	}
	delete(dir.children, base)
	return nil
}

// Rename moves oldName to newName, replacing a file or an empty directory.
func (m *MemFS) Rename(oldName, newName string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fail := func(err error) error { return &os.LinkError{Op: "rename", Old: oldName, New: newName, Err: err} }
	odir, obase, err := m.parent(oldName)
	if err != nil {
		return fail(err)
	}
	n, ok := odir.children[obase]
	if !ok {
		return fail(fs.ErrNotExist)
	}
	ndir, nbase, err := m.parent(newName)
	if err != nil {
		return fail(err)
	}
	if old, ok := ndir.children[nbase]; ok && old != n {
		switch {
		case old.dir && !n.dir:
			return fail(syscall.EISDIR)
		case !old.dir && n.dir:
			return fail(syscall.ENOTDIR)
		case old.dir && len(old.children) > 0:
			return fail(syscall.ENOTEMPTY)
		}
	}
	delete(odir.children, obase)
	ndir.children[nbase] = n
	return nil
}

// MkdirAll creates dir and any missing parents; each new entry is durable
// once its parent is synced.
func (m *MemFS) MkdirAll(dir string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.root
	for _, part := range splitPath(dir) {
		c, ok := n.children[part]
		if !ok {
			c = newDirNode()
			n.children[part] = c
		}
		if !c.dir {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		n = c
	}
	return nil
}

// ReadDir lists the names in dir, sorted.
func (m *MemFS) ReadDir(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(dir)
	if err == nil && !n.dir {
		err = syscall.ENOTDIR
	}
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: err}
	}
	names := make([]string, 0, len(n.children))
	for name := range n.children {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// Stat describes name.
func (m *MemFS) Stat(name string) (os.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(name)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return memFileInfo{name: path.Base(path.Clean("/" + name)), size: int64(len(n.data)), dir: n.dir, modTime: n.modTime}, nil
}

// SyncDir makes dir's current entries durable. It does not sync the data
// of the files they name.
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(dir)
	if err == nil && !n.dir {
		err = syscall.ENOTDIR
	}
	if err != nil {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: err}
	}
	n.durableChildren = make(map[string]*memNode, len(n.children))
	for name, c := range n.children {
		n.durableChildren[name] = c
	}
	return nil
}

// resize sets the file's length; the caller holds the filesystem lock.
func (n *memNode) resize(size int64) error {
	switch {
	case size <= int64(len(n.data)):
		n.data = n.data[:size]
	case size <= int64(cap(n.data)):
		old := len(n.data)
		n.data = n.data[:size]
		clear(n.data[old:])
	case len(n.maps) > 0:
		return ErrMappedGrow
	default:
		grown := make([]byte, size, max(size, 2*int64(cap(n.data))))
		copy(grown, n.data)
		n.data = grown
	}
	n.dirtyFrom = min(n.dirtyFrom, size)
	n.backed = min(n.backed, size)
	n.modTime = time.Now()
	return nil
}

// back marks [off, end) allocated; it extends the leading run only when it
// touches it.
func (n *memNode) back(off, end int64) {
	if off <= n.backed {
		n.backed = max(n.backed, end)
	}
}

type memFile struct {
	fs       *MemFS
	node     *memNode
	name     string
	writable bool
	closed   bool
}

// check returns the error for an operation on f; the caller holds the lock.
func (f *memFile) check(op string, write bool) error {
	switch {
	case f.closed:
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	case write && !f.writable:
		return &fs.PathError{Op: op, Path: f.name, Err: syscall.EBADF}
	}
	return nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrInvalid}
	}
	if off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: fs.ErrInvalid}
	}
	n := f.node
	if end := off + int64(len(p)); end > int64(len(n.data)) {
		if err := n.resize(end); err != nil {
			return 0, &fs.PathError{Op: "write", Path: f.name, Err: err}
		}
	}
	copy(n.data[off:], p)
	n.back(off, off+int64(len(p)))
	n.dirtyFrom = min(n.dirtyFrom, off)
	n.modTime = time.Now()
	return len(p), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("close", false); err != nil {
		return err
	}
	f.closed = true
	return nil
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("stat", false); err != nil {
		return 0, err
	}
	return int64(len(f.node.data)), nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: fs.ErrInvalid}
	}
	if err := f.node.resize(size); err != nil {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: err}
	}
	return nil
}

// Sync makes the file's contents, including writes through its writable
// mappings, durable.
func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("sync", false); err != nil {
		return err
	}
	n := f.node
	from := n.dirtyFrom
	if n.writeMapped() {
		from = 0 // stores through a mapping are not tracked
	}
	from = min(from, int64(len(n.durable)), int64(len(n.data)))
	n.durable = append(n.durable[:from], n.data[from:]...)
	n.dirtyFrom = int64(len(n.data))
	return nil
}

// StartWriteback does nothing: a memory file has no disk to write to, and
// starting writeback makes nothing durable.
func (f *memFile) StartWriteback(off, n int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return f.check("start writeback", true)
}

// Allocate grows the file to at least off+n bytes and backs [off, off+n),
// as fallocate without KEEP_SIZE does.
func (f *memFile) Allocate(off, n int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("allocate", true); err != nil {
		return err
	}
	if off < 0 || n <= 0 {
		return &fs.PathError{Op: "allocate", Path: f.name, Err: fs.ErrInvalid}
	}
	if end := off + n; end > int64(len(f.node.data)) {
		if err := f.node.resize(end); err != nil {
			return &fs.PathError{Op: "allocate", Path: f.name, Err: err}
		}
	}
	f.node.back(off, off+n)
	return nil
}

// Map returns the first length bytes of the file's contents themselves, so
// stores through a writable map are seen by ReadAt and made durable by Sync.
// While mapped, the file cannot grow past its capacity (ErrMappedGrow). A
// writable mapping must cover only allocated bytes (ErrSparseMap).
func (f *memFile) Map(length int, writable bool) ([]byte, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("mmap", writable); err != nil {
		return nil, err
	}
	n := f.node
	if length < 0 || length > len(n.data) {
		return nil, &fs.PathError{Op: "mmap", Path: f.name, Err: fmt.Errorf("length %d past file size %d: %w", length, len(n.data), fs.ErrInvalid)}
	}
	if length == 0 {
		return nil, nil
	}
	if writable && int64(length) > n.backed {
		return nil, &fs.PathError{Op: "mmap", Path: f.name, Err: fmt.Errorf("%d bytes, %d allocated: %w", length, n.backed, ErrSparseMap)}
	}
	n.maps = append(n.maps, memMap{length: length, writable: writable})
	// Full slice expression: an append to the map must not write the file.
	return n.data[:length:length], nil
}

// Unmap releases a mapping returned by Map on this file.
func (f *memFile) Unmap(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	n := f.node
	// Every mapping starts at the file's first byte, and the array behind a
	// mapped file never moves, so a mapping is known by its length. Of two
	// alike, the read-only one goes first: a stale writable record only makes
	// Sync copy more.
	if cap(n.data) > 0 && &b[0] == &n.data[:1][0] {
		for _, writable := range []bool{false, true} {
			for i, mm := range n.maps {
				if mm.length == len(b) && mm.writable == writable {
					n.maps = append(n.maps[:i], n.maps[i+1:]...)
					return nil
				}
			}
		}
	}
	return &fs.PathError{Op: "munmap", Path: f.name, Err: fs.ErrInvalid}
}

func (f *memFile) OS() *os.File { return nil }

type memFileInfo struct {
	name    string
	size    int64
	dir     bool
	modTime time.Time
}

func (i memFileInfo) Name() string { return i.name }
func (i memFileInfo) Size() int64  { return i.size }
func (i memFileInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i memFileInfo) ModTime() time.Time { return i.modTime }
func (i memFileInfo) IsDir() bool        { return i.dir }
func (i memFileInfo) Sys() any           { return nil }

package vfs

import (
	"fmt"
	"io"
	"os"
	"sort"

	"golang.org/x/sys/unix"
)

// OS is the real filesystem.
var OS FS = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error             { return os.Remove(name) }
func (osFS) RemoveAll(name string) error          { return os.RemoveAll(name) }
func (osFS) Rename(oldName, newName string) error { return os.Rename(oldName, newName) }
func (osFS) MkdirAll(dir string, perm os.FileMode) error {
	return os.MkdirAll(dir, perm)
}
func (osFS) Stat(name string) (os.FileInfo, error) { return os.Stat(name) }

func (osFS) ReadDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	sort.Strings(names)
	return names, nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

type osFile struct{ f *os.File }

func (o osFile) ReadAt(p []byte, off int64) (int, error)  { return o.f.ReadAt(p, off) }
func (o osFile) WriteAt(p []byte, off int64) (int, error) { return o.f.WriteAt(p, off) }
func (o osFile) Close() error                             { return o.f.Close() }
func (o osFile) Name() string                             { return o.f.Name() }
func (o osFile) Truncate(size int64) error                { return o.f.Truncate(size) }
func (o osFile) OS() *os.File                             { return o.f }

func (o osFile) Size() (int64, error) {
	st, err := o.f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (o osFile) Sync() error { return unix.Fdatasync(int(o.f.Fd())) }

func (o osFile) StartWriteback(off, n int64) error {
	return unix.SyncFileRange(int(o.f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// Allocate reserves the blocks with fallocate, or, on a filesystem without
// it, by writing [off, off+n) over with its own contents (zeros past the
// end): either way a store through a map of the range never needs a new
// block, which on a full disk would be SIGBUS.
func (o osFile) Allocate(off, n int64) error {
	err := unix.Fallocate(int(o.f.Fd()), 0, off, n)
	if err != unix.EOPNOTSUPP && err != unix.ENOSYS {
		if err != nil {
			return &os.PathError{Op: "fallocate", Path: o.f.Name(), Err: err}
		}
		return nil
	}
	buf := make([]byte, min(n, 1<<20))
	for n > 0 {
		chunk := buf[:min(n, int64(len(buf)))]
		r, err := o.f.ReadAt(chunk, off)
		if err != nil && err != io.EOF {
			return err
		}
		clear(chunk[r:])
		if _, err := o.f.WriteAt(chunk, off); err != nil {
			return err
		}
		off, n = off+int64(len(chunk)), n-int64(len(chunk))
	}
	return nil
}

func (o osFile) Map(length int, writable bool) ([]byte, error) {
	if length == 0 {
		return nil, nil
	}
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	return unix.Mmap(int(o.f.Fd()), 0, length, prot, unix.MAP_SHARED)
}

func (o osFile) Unmap(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return unix.Munmap(b)
}

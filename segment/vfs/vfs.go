// Package vfs is the filesystem seam under segment/: the real OS filesystem in
// production, and in tests a memory filesystem that keeps only synced data
// across a simulated crash, plus a wrapper that injects errors (ENOSPC, EIO).
// The real one makes its syncs through an io_uring (uring.go), so that a
// goroutine waiting for the disk does not hold a P.
package vfs

import (
	"io"
	"os"
)

// FS is the set of filesystem operations segment/ uses.
type FS interface {
	// OpenFile opens or creates a file, as os.OpenFile.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	// RemoveAll removes a directory tree, as os.RemoveAll.
	RemoveAll(name string) error
	Rename(oldName, newName string) error
	MkdirAll(dir string, perm os.FileMode) error
	// ReadDir lists the names in dir, sorted.
	ReadDir(dir string) ([]string, error)
	Stat(name string) (os.FileInfo, error)
	// SyncDir makes the directory's entries (creates, renames, removes) durable.
	SyncDir(dir string) error
}

// File is an open file. ReadAt/WriteAt never move a shared file position.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	Name() string
	Size() (int64, error)
	Truncate(size int64) error
	// Sync makes the file's data durable (fdatasync), including pages written
	// through a shared mapping.
	Sync() error
	// StartWriteback starts writing [off, off+n) to disk without waiting for
	// it (sync_file_range SYNC_FILE_RANGE_WRITE). It makes nothing durable;
	// it keeps dirty pages from piling up. Memory files ignore it.
	StartWriteback(off, n int64) error
	// Allocate reserves [off, off+n) on disk, growing the file to off+n if
	// shorter and keeping its contents (fallocate with KEEP_SIZE unset). Map a
	// range writable only once it is allocated: a store into a hole needs a
	// block, and without one (a full disk) the page fault is SIGBUS.
	Allocate(off, n int64) error
	// Map maps the first length bytes of the file; the file must be at least
	// that long. A writable map is shared: writes reach the file.
	Map(length int, writable bool) ([]byte, error)
	Unmap(b []byte) error
	// OS returns the underlying *os.File for sendfile, or nil when the file is
	// not an OS file (memory filesystem); callers then copy with ReadAt.
	OS() *os.File
}

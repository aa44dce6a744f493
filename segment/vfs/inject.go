package vfs

import (
	"fmt"
	"os"
)

// Op names a filesystem operation for an error injector.
type Op int

// Operations of FS and File, in that order.
const (
	OpOpenFile Op = iota
	OpRemove
	OpRemoveAll
	OpRename
	OpMkdirAll
	OpReadDir
	OpStat
	OpSyncDir
	OpReadAt
	OpWriteAt
	OpClose
	OpSize
	OpTruncate
	OpSync
	OpAllocate
	OpStartWriteback
	OpMap
	OpUnmap
)

var opNames = [...]string{
	OpOpenFile: "OpenFile", OpRemove: "Remove", OpRemoveAll: "RemoveAll",
	OpRename: "Rename", OpMkdirAll: "MkdirAll", OpReadDir: "ReadDir",
	OpStat: "Stat", OpSyncDir: "SyncDir", OpReadAt: "ReadAt",
	OpWriteAt: "WriteAt", OpClose: "Close", OpSize: "Size",
	OpTruncate: "Truncate", OpSync: "Sync", OpAllocate: "Allocate",
	OpStartWriteback: "StartWriteback", OpMap: "Map", OpUnmap: "Unmap",
}

func (o Op) String() string {
	if o >= 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Injector decides the fate of one operation before it runs: nil lets it
// run, an error fails it without running it. path is the name the operation
// was given (the old name for Rename), or the file's name for File methods.
// It may be called from several goroutines at once.
type Injector func(op Op, path string) error

// PartialWrite, returned by an Injector for a WriteAt, writes the first N
// bytes and then fails with Err: a torn write, as when ENOSPC strikes
// mid-request.
type PartialWrite struct {
	N   int
	Err error
}

func (p *PartialWrite) Error() string {
	return fmt.Sprintf("partial write of %d bytes: %v", p.N, p.Err)
}
func (p *PartialWrite) Unwrap() error { return p.Err }

// Inject wraps fs so that every operation, on it or on a file it opened,
// first asks inject.
func Inject(fs FS, inject Injector) FS { return &injectFS{fs: fs, inject: inject} }

type injectFS struct {
	fs     FS
	inject Injector
}

func (i *injectFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if err := i.inject(OpOpenFile, name); err != nil {
		return nil, err
	}
	f, err := i.fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &injectFile{File: f, inject: i.inject}, nil
}

func (i *injectFS) Remove(name string) error {
	if err := i.inject(OpRemove, name); err != nil {
		return err
	}
	return i.fs.Remove(name)
}

func (i *injectFS) RemoveAll(name string) error {
	if err := i.inject(OpRemoveAll, name); err != nil {
		return err
	}
	return i.fs.RemoveAll(name)
}

func (i *injectFS) Rename(oldName, newName string) error {
	if err := i.inject(OpRename, oldName); err != nil {
		return err
	}
	return i.fs.Rename(oldName, newName)
}

func (i *injectFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := i.inject(OpMkdirAll, dir); err != nil {
		return err
	}
	return i.fs.MkdirAll(dir, perm)
}

func (i *injectFS) ReadDir(dir string) ([]string, error) {
	if err := i.inject(OpReadDir, dir); err != nil {
		return nil, err
	}
	return i.fs.ReadDir(dir)
}

func (i *injectFS) Stat(name string) (os.FileInfo, error) {
	if err := i.inject(OpStat, name); err != nil {
		return nil, err
	}
	return i.fs.Stat(name)
}

func (i *injectFS) SyncDir(dir string) error {
	if err := i.inject(OpSyncDir, dir); err != nil {
		return err
	}
	return i.fs.SyncDir(dir)
}

// injectFile embeds the wrapped File only for OS, which cannot fail; every
// other method is overridden below.
type injectFile struct {
	File
	inject Injector
}

func (f *injectFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.inject(OpReadAt, f.Name()); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *injectFile) WriteAt(p []byte, off int64) (int, error) {
	err := f.inject(OpWriteAt, f.Name())
	if err == nil {
		return f.File.WriteAt(p, off)
	}
	pw, ok := err.(*PartialWrite)
	if !ok || pw.N <= 0 {
		return 0, err
	}
	n, werr := f.File.WriteAt(p[:min(pw.N, len(p))], off)
	if werr != nil {
		return n, werr
	}
	return n, pw.Err
}

// Close closes the file even when the injector fails it, as close(2) does.
func (f *injectFile) Close() error {
	err := f.inject(OpClose, f.Name())
	if cerr := f.File.Close(); cerr != nil {
		return cerr
	}
	return err
}

func (f *injectFile) Size() (int64, error) {
	if err := f.inject(OpSize, f.Name()); err != nil {
		return 0, err
	}
	return f.File.Size()
}

func (f *injectFile) Truncate(size int64) error {
	if err := f.inject(OpTruncate, f.Name()); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *injectFile) Sync() error {
	if err := f.inject(OpSync, f.Name()); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *injectFile) StartWriteback(off, n int64) error {
	if err := f.inject(OpStartWriteback, f.Name()); err != nil {
		return err
	}
	return f.File.StartWriteback(off, n)
}

func (f *injectFile) Allocate(off, n int64) error {
	if err := f.inject(OpAllocate, f.Name()); err != nil {
		return err
	}
	return f.File.Allocate(off, n)
}

func (f *injectFile) Map(length int, writable bool) ([]byte, error) {
	if err := f.inject(OpMap, f.Name()); err != nil {
		return nil, err
	}
	return f.File.Map(length, writable)
}

func (f *injectFile) Unmap(b []byte) error {
	if err := f.inject(OpUnmap, f.Name()); err != nil {
		return err
	}
	return f.File.Unmap(b)
}

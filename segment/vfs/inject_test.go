package vfs

import (
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

func TestInjectFailsTheNthWrite(t *testing.T) {
	var writes atomic.Int32
	fsys := Inject(NewMemFS(), func(op Op, path string) error {
		if op == OpWriteAt && strings.HasSuffix(path, ".log") && writes.Add(1) == 3 {
			return syscall.ENOSPC
		}
		return nil
	})
	f := mustOpen(t, fsys, "/a.log", os.O_RDWR|os.O_CREATE)
	mustWrite(t, f, "1", 0)
	mustWrite(t, f, "2", 1)
	if _, err := f.WriteAt([]byte("3"), 2); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("third write: %v", err)
	}
	if got := readAll(t, f); got != "12" {
		t.Fatalf("a failed write changed the file: %q", got)
	}
	mustWrite(t, f, "4", 2)
	other := mustOpen(t, fsys, "/a.index", os.O_RDWR|os.O_CREATE)
	mustWrite(t, other, "x", 0)
}

func TestInjectPartialWrite(t *testing.T) {
	fsys := Inject(NewMemFS(), func(op Op, path string) error {
		if op == OpWriteAt {
			return &PartialWrite{N: 3, Err: syscall.ENOSPC}
		}
		return nil
	})
	f := mustOpen(t, fsys, "/f", os.O_RDWR|os.O_CREATE)
	n, err := f.WriteAt([]byte("abcdef"), 0)
	if n != 3 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("partial write: %d %v", n, err)
	}
	if got := readAll(t, f); got != "abc" {
		t.Fatalf("file holds %q", got)
	}
}

func TestInjectSeesEveryOp(t *testing.T) {
	var seen []Op
	mem := NewMemFS()
	fsys := Inject(mem, func(op Op, path string) error {
		seen = append(seen, op)
		if op == OpSync || op == OpClose {
			return syscall.EIO
		}
		return nil
	})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(fsys.MkdirAll("/d", 0o755))
	f := mustOpen(t, fsys, "/d/f", os.O_RDWR|os.O_CREATE)
	mustWrite(t, f, "abcd", 0)
	_, err := f.ReadAt(make([]byte, 1), 0)
	must(err)
	_, err = f.Size()
	must(err)
	must(f.Truncate(4))
	must(f.Allocate(0, 8))
	m, err := f.Map(4, false)
	must(err)
	must(f.Unmap(m))
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync: %v", err)
	}
	if err := f.Close(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Close: %v", err)
	}
	if _, err := mem.OpenFile("/d/f", os.O_RDONLY, 0); err != nil {
		t.Fatal(err)
	}
	must(fsys.SyncDir("/d"))
	_, err = fsys.Stat("/d/f")
	must(err)
	_, err = fsys.ReadDir("/d")
	must(err)
	must(fsys.Rename("/d/f", "/d/g"))
	must(fsys.Remove("/d/g"))
	must(fsys.RemoveAll("/d"))
	want := []Op{OpMkdirAll, OpOpenFile, OpWriteAt, OpReadAt, OpSize, OpTruncate, OpAllocate, OpMap, OpUnmap, OpSync, OpClose,
		OpSyncDir, OpStat, OpReadDir, OpRename, OpRemove, OpRemoveAll}
	if len(seen) != len(want) {
		t.Fatalf("ops %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("ops %v, want %v", seen, want)
		}
	}
	if OpWriteAt.String() != "WriteAt" || Op(99).String() != "Op(99)" {
		t.Fatalf("Op names: %v %v", OpWriteAt, Op(99))
	}
}

// After an injected Close error the file is closed all the same.
func TestInjectCloseStillCloses(t *testing.T) {
	fsys := Inject(NewMemFS(), func(op Op, _ string) error {
		if op == OpClose {
			return syscall.EIO
		}
		return nil
	})
	f := mustOpen(t, fsys, "/f", os.O_RDWR|os.O_CREATE)
	if err := f.Close(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Close: %v", err)
	}
	if _, err := f.Size(); err == nil {
		t.Fatal("file still open after a failed Close")
	}
}

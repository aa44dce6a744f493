package vfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ringOrSkip returns the process's ring; the test is skipped only where
// the kernel refuses io_uring, and says why.
func ringOrSkip(t *testing.T) *uring {
	t.Helper()
	if r := syncRing(); r != nil {
		return r
	}
	b, _ := os.ReadFile("/proc/sys/kernel/io_uring_disabled")
	if _, err := newURing(); err != nil {
		t.Skipf("no io_uring here (kernel.io_uring_disabled=%s): %v", strings.TrimSpace(string(b)), err)
	}
	t.Fatal("io_uring works, but the process's ring was not made")
	return nil
}

func TestURingParamsLayout(t *testing.T) {
	if n := unsafe.Sizeof(uringParams{}); n != 120 {
		t.Fatalf("uringParams is %d bytes, the kernel's io_uring_params 120", n)
	}
}

// TestSyncsThroughTheRing: fdatasync, fsync and sync_file_range run as
// ring operations, their errors come back as errnos, and many at once
// each get their own completion.
func TestSyncsThroughTheRing(t *testing.T) {
	r := ringOrSkip(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	fd := int(f.Fd())
	for _, op := range []struct {
		name string
		call func() (bool, error)
	}{
		{"fdatasync", func() (bool, error) {
			return r.call(uringSQE{op: uringOpFsync, fd: int32(fd), flags: uringFsyncDatasync})
		}},
		{"fsync", func() (bool, error) { return r.call(uringSQE{op: uringOpFsync, fd: int32(fd)}) }},
		{"sync_file_range", func() (bool, error) {
			return r.call(uringSQE{op: uringOpSyncFileRange, fd: int32(fd), off: 4096, length: 1 << 19, flags: unix.SYNC_FILE_RANGE_WRITE})
		}},
	} {
		if submitted, err := op.call(); !submitted || err != nil {
			t.Errorf("%s: submitted %v, %v", op.name, submitted, err)
		}
	}
	if submitted, err := r.call(uringSQE{op: uringOpFsync, fd: 1 << 20}); !submitted || !errors.Is(err, unix.EBADF) {
		t.Errorf("fsync of a bad descriptor: submitted %v, %v; want EBADF", submitted, err)
	}
	if submitted, err := r.call(uringSQE{op: uringOpFsync, fd: int32(fd), flags: 0x80}); !submitted || !errors.Is(err, unix.EINVAL) {
		t.Errorf("fsync with unknown flags: submitted %v, %v; want EINVAL", submitted, err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3*uringInflightMax)
	for i := range 3 * uringInflightMax {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				err = fdatasync(fd)
			} else {
				err = fsync(1 << 20)
				if errors.Is(err, unix.EBADF) {
					err = nil
				}
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent sync: %v", err)
	}
	r.mu.Lock()
	left := len(r.inflight)
	r.mu.Unlock()
	if left != 0 {
		t.Errorf("%d calls still waiting after all returned", left)
	}
}

// TestRenameAndRemoveThroughTheRing: renameat and unlinkat run as ring
// operations, and rename and remove keep os.Rename's and os.Remove's
// results, errors and their types included.
func TestRenameAndRemoveThroughTheRing(t *testing.T) {
	r := ringOrSkip(t)
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	for _, name := range []string{a, b} {
		if err := os.WriteFile(name, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if submitted, err := r.renameat(a, b); !submitted || err != nil {
		t.Fatalf("renameat over a file: submitted %v, %v", submitted, err)
	}
	if got, err := os.ReadFile(b); err != nil || string(got) != a {
		t.Fatalf("after renameat b holds %q, %v; want a's contents", got, err)
	}
	if _, err := os.Stat(a); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a after renameat: %v, want gone", err)
	}
	if submitted, err := r.unlinkat(b); !submitted || err != nil {
		t.Fatalf("unlinkat: submitted %v, %v", submitted, err)
	}
	if _, err := os.Stat(b); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("b after unlinkat: %v, want gone", err)
	}

	var linkErr *os.LinkError
	if err := rename(a, c); !errors.As(err, &linkErr) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("rename of a missing file: %v (%T), want a *os.LinkError for ENOENT", err, err)
	}
	var pathErr *os.PathError
	if err := remove(a); !errors.As(err, &pathErr) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("remove of a missing file: %v (%T), want a *os.PathError for ENOENT", err, err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := remove(sub); err != nil {
		t.Errorf("remove of an empty directory: %v", err)
	}
	if err := os.WriteFile(c, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rename(c, sub); err != nil {
		t.Errorf("rename: %v", err)
	}
	if err := remove(sub); err != nil {
		t.Errorf("remove of a file: %v", err)
	}
	if names, err := os.ReadDir(dir); err != nil || len(names) != 0 {
		t.Errorf("dir left with %v, %v; want empty", names, err)
	}
}

package vfs

import (
	"errors"
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
		{"fdatasync", func() (bool, error) { return r.call(uringOpFsync, fd, 0, 0, uringFsyncDatasync) }},
		{"fsync", func() (bool, error) { return r.call(uringOpFsync, fd, 0, 0, 0) }},
		{"sync_file_range", func() (bool, error) {
			return r.call(uringOpSyncFileRange, fd, 4096, 1<<19, unix.SYNC_FILE_RANGE_WRITE)
		}},
	} {
		if submitted, err := op.call(); !submitted || err != nil {
			t.Errorf("%s: submitted %v, %v", op.name, submitted, err)
		}
	}
	if submitted, err := r.call(uringOpFsync, 1<<20, 0, 0, 0); !submitted || !errors.Is(err, unix.EBADF) {
		t.Errorf("fsync of a bad descriptor: submitted %v, %v; want EBADF", submitted, err)
	}
	if submitted, err := r.call(uringOpFsync, fd, 0, 0, 0x80); !submitted || !errors.Is(err, unix.EINVAL) {
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

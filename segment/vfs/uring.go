package vfs

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The OS filesystem runs fdatasync, fsync and sync_file_range through an
// io_uring: the kernel's workers do them while the calling goroutine waits
// parked on the ring's eventfd through Go's netpoller. A goroutine blocked
// in the syscall itself keeps its P (the scheduler's right to run Go code)
// until the runtime's monitor takes it back, which it checks every 20 µs
// to 10 ms: where the broker has one P (one CPU), a 60 ms fdatasync of
// the HW checkpoint stopped every request for 12-37 ms (traced: the
// syncing thread was the only one in the kernel). Without io_uring (an
// old kernel, or kernel.io_uring_disabled), the syscalls are made as before.

// io_uring ABI (include/uapi/linux/io_uring.h).
const (
	uringOffSQRing       = 0
	uringOffCQRing       = 0x8000000
	uringOffSQEs         = 0x10000000
	uringOpFsync         = 3
	uringOpSyncFileRange = 8
	uringOpRenameat      = 35
	uringOpUnlinkat      = 36
	uringFsyncDatasync   = 1
	uringRegisterEventfd = 4
	uringSQEBytes        = 64
	uringCQEBytes        = 16
	uringEntries         = 64
	uringInflightMax     = uringEntries // within the CQ (twice the SQ) with room
	uringSQEOpcodeAt     = 0
	uringSQEFdAt         = 4
	uringSQEOffAt        = 8 // addr2 for renameat
	uringSQEAddrAt       = 16
	uringSQELenAt        = 24
	uringSQEOpFlagsAt    = 28
	uringSQEUserDataAt   = 32
	uringCQEUserDataAt   = 0
	uringCQEResAt        = 8
)

type uringSQOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type uringCQOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  uringSQOffsets
	cqOff                                                                  uringCQOffsets
}

// uringSQE is what an operation sets in its submission entry.
type uringSQE struct {
	op            uint8
	fd            int32
	off, addr     uint64
	length, flags uint32
}

// uring is one io_uring shared by every file of the process, used for
// calls that may wait on the disk: submissions under mu, completions read by one goroutine
// woken through the eventfd.
type uring struct {
	fd       int
	sq, cq   []byte
	sqes     []byte
	sqHead   *uint32
	sqTail   *uint32
	sqMask   uint32
	sqArray  unsafe.Pointer
	cqHead   *uint32
	cqTail   *uint32
	cqMask   uint32
	cqesAt   uint32
	efd      *os.File
	slots    chan struct{} // bounds the calls in flight
	mu       sync.Mutex
	nextID   uint64
	inflight map[uint64]chan int32
}

var (
	theRing     *uring
	theRingOnce sync.Once
)

// syncRing returns the process's ring, nil when io_uring is unavailable.
func syncRing() *uring {
	theRingOnce.Do(func() {
		r, err := newURing()
		if err == nil {
			theRing = r
			go r.reap()
		}
	})
	return theRing
}

func newURing() (*uring, error) {
	var p uringParams
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uringEntries, uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &uring{fd: int(fd), slots: make(chan struct{}, uringInflightMax), inflight: map[uint64]chan int32{}}
	fail := func(what string, err error) (*uring, error) {
		r.close()
		return nil, fmt.Errorf("io_uring %s: %w", what, err)
	}
	var err error
	if r.sq, err = unix.Mmap(r.fd, uringOffSQRing, int(p.sqOff.array+p.sqEntries*4), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fail("map SQ ring", err)
	}
	if r.cq, err = unix.Mmap(r.fd, uringOffCQRing, int(p.cqOff.cqes+p.cqEntries*uringCQEBytes), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fail("map CQ ring", err)
	}
	if r.sqes, err = unix.Mmap(r.fd, uringOffSQEs, int(p.sqEntries*uringSQEBytes), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fail("map SQEs", err)
	}
	r.sqHead = (*uint32)(unsafe.Pointer(&r.sq[p.sqOff.head]))
	r.sqTail = (*uint32)(unsafe.Pointer(&r.sq[p.sqOff.tail]))
	r.sqMask = *(*uint32)(unsafe.Pointer(&r.sq[p.sqOff.ringMask]))
	r.sqArray = unsafe.Pointer(&r.sq[p.sqOff.array])
	r.cqHead = (*uint32)(unsafe.Pointer(&r.cq[p.cqOff.head]))
	r.cqTail = (*uint32)(unsafe.Pointer(&r.cq[p.cqOff.tail]))
	r.cqMask = *(*uint32)(unsafe.Pointer(&r.cq[p.cqOff.ringMask]))
	r.cqesAt = p.cqOff.cqes
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return fail("eventfd", err)
	}
	// Non-blocking, so os.NewFile registers it with the netpoller.
	r.efd = os.NewFile(uintptr(efd), "io_uring-eventfd")
	fd32 := int32(efd)
	if _, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), uringRegisterEventfd, uintptr(unsafe.Pointer(&fd32)), 1, 0, 0); errno != 0 {
		return fail("register eventfd", errno)
	}
	return r, nil
}

func (r *uring) close() {
	for _, m := range [][]byte{r.sq, r.cq, r.sqes} {
		if m != nil {
			_ = unix.Munmap(m)
		}
	}
	if r.efd != nil {
		r.efd.Close()
	}
	unix.Close(r.fd)
}

// call runs one operation and returns its result as an errno (nil for
// success). submitted is false when the kernel did not take it: the caller
// then makes the syscall itself. Memory that e.addr or e.off points at must
// be on the heap and kept alive by the caller until call returns.
func (r *uring) call(e uringSQE) (submitted bool, err error) {
	r.slots <- struct{}{}
	defer func() { <-r.slots }()
	done := make(chan int32, 1)
	r.mu.Lock()
	r.nextID++
	id := r.nextID
	tail := *r.sqTail // only submitters write it, under mu
	idx := tail & r.sqMask
	sqe := r.sqes[idx*uringSQEBytes : (idx+1)*uringSQEBytes]
	clear(sqe)
	sqe[uringSQEOpcodeAt] = e.op
	*(*int32)(unsafe.Pointer(&sqe[uringSQEFdAt])) = e.fd
	*(*uint64)(unsafe.Pointer(&sqe[uringSQEOffAt])) = e.off
	*(*uint64)(unsafe.Pointer(&sqe[uringSQEAddrAt])) = e.addr
	*(*uint32)(unsafe.Pointer(&sqe[uringSQELenAt])) = e.length
	*(*uint32)(unsafe.Pointer(&sqe[uringSQEOpFlagsAt])) = e.flags
	*(*uint64)(unsafe.Pointer(&sqe[uringSQEUserDataAt])) = id
	*(*uint32)(unsafe.Add(r.sqArray, 4*idx)) = idx
	r.inflight[id] = done
	atomic.StoreUint32(r.sqTail, tail+1)
	// Entries an earlier failed submission left queued go first, in order.
	queued := tail + 1 - atomic.LoadUint32(r.sqHead)
	var taken uintptr
	var errno unix.Errno
	for {
		taken, _, errno = unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(queued), 0, 0, 0, 0)
		if errno != unix.EINTR {
			break
		}
	}
	if errno != 0 || uint32(taken) != queued {
		// This entry may stay queued and go with the next submission,
		// its completion then finding no waiter; this call syncs itself.
		delete(r.inflight, id)
		r.mu.Unlock()
		return false, nil
	}
	r.mu.Unlock()
	if res := <-done; res < 0 {
		return true, unix.Errno(-res)
	}
	return true, nil
}

// reap hands completions to their callers, woken by the eventfd.
func (r *uring) reap() {
	var buf [8]byte
	for {
		if _, err := r.efd.Read(buf[:]); err != nil {
			panic(fmt.Sprintf("vfs: io_uring eventfd: %v", err)) // never closed while the ring lives
		}
		r.mu.Lock()
		head := *r.cqHead // only reap writes it
		for tail := atomic.LoadUint32(r.cqTail); head != tail; head++ {
			cqe := r.cq[r.cqesAt+(head&r.cqMask)*uringCQEBytes:]
			id := *(*uint64)(unsafe.Pointer(&cqe[uringCQEUserDataAt]))
			res := *(*int32)(unsafe.Pointer(&cqe[uringCQEResAt]))
			if done, ok := r.inflight[id]; ok {
				delete(r.inflight, id)
				done <- res
			}
		}
		atomic.StoreUint32(r.cqHead, head)
		r.mu.Unlock()
	}
}

// fdatasync is unix.Fdatasync, through the ring when there is one.
func fdatasync(fd int) error {
	if r := syncRing(); r != nil {
		if submitted, err := r.call(uringSQE{op: uringOpFsync, fd: int32(fd), flags: uringFsyncDatasync}); submitted {
			return err
		}
	}
	return unix.Fdatasync(fd)
}

// fsync is unix.Fsync, through the ring when there is one.
func fsync(fd int) error {
	if r := syncRing(); r != nil {
		if submitted, err := r.call(uringSQE{op: uringOpFsync, fd: int32(fd)}); submitted {
			return err
		}
	}
	return unix.Fsync(fd)
}

// startWriteback is sync_file_range(SYNC_FILE_RANGE_WRITE), through the
// ring when there is one and n fits its 32-bit length.
func startWriteback(fd int, off, n int64) error {
	if r := syncRing(); r != nil && n >= 0 && n <= 1<<31 {
		if submitted, err := r.call(uringSQE{op: uringOpSyncFileRange, fd: int32(fd), off: uint64(off), length: uint32(n), flags: unix.SYNC_FILE_RANGE_WRITE}); submitted {
			return err
		}
	}
	return unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// atFDCWD is AT_FDCWD as the kernel reads it from a 32-bit field.
const atFDCWD = 1<<32 + unix.AT_FDCWD

// renameat runs renameat(AT_FDCWD, oldName, AT_FDCWD, newName) on the ring.
func (r *uring) renameat(oldName, newName string) (submitted bool, err error) {
	oldPath, err := unix.BytePtrFromString(oldName)
	if err != nil {
		return false, nil
	}
	newPath, err := unix.BytePtrFromString(newName)
	if err != nil {
		return false, nil
	}
	submitted, err = r.call(uringSQE{op: uringOpRenameat, fd: unix.AT_FDCWD, length: atFDCWD,
		addr: uint64(uintptr(unsafe.Pointer(oldPath))), off: uint64(uintptr(unsafe.Pointer(newPath)))})
	runtime.KeepAlive(oldPath)
	runtime.KeepAlive(newPath)
	return submitted, err
}

// unlinkat runs unlinkat(AT_FDCWD, name, 0) on the ring.
func (r *uring) unlinkat(name string) (submitted bool, err error) {
	path, err := unix.BytePtrFromString(name)
	if err != nil {
		return false, nil
	}
	submitted, err = r.call(uringSQE{op: uringOpUnlinkat, fd: unix.AT_FDCWD, addr: uint64(uintptr(unsafe.Pointer(path)))})
	runtime.KeepAlive(path)
	return submitted, err
}

// rename is os.Rename, through the ring when there is one. Replacing a
// file frees the old one's blocks, and on a filesystem mounted with
// discard the kernel waits there for the device to discard them, in the
// calling thread (a D-state sample of the broker caught the HW
// checkpoint's renameat in blkdev_issue_discard; its effect on acks was
// not separated from the checkpoint's flush). EINVAL may also be a kernel
// that does not know the operation: the syscall then says which.
func rename(oldName, newName string) error {
	if r := syncRing(); r != nil {
		if submitted, err := r.renameat(oldName, newName); submitted && err != unix.EINVAL {
			if err != nil {
				return &os.LinkError{Op: "rename", Old: oldName, New: newName, Err: err}
			}
			return nil
		}
	}
	return os.Rename(oldName, newName)
}

// remove is os.Remove, through the ring when there is one: removing a
// file's last link frees its blocks (see rename). A directory, which
// unlinkat refuses without AT_REMOVEDIR, is left to os.Remove.
func remove(name string) error {
	if r := syncRing(); r != nil {
		submitted, err := r.unlinkat(name)
		if submitted && err != unix.EINVAL && err != unix.EISDIR && err != unix.EPERM {
			if err != nil {
				return &os.PathError{Op: "remove", Path: name, Err: err}
			}
			return nil
		}
	}
	return os.Remove(name)
}

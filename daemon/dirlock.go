package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// lockFileName is the lock file in the data directory, named as Kafka names
// its own. The metadata log lives in the data directory, so this one lock
// covers both.
const lockFileName = ".lock"

// dirLock is an exclusive flock(2) on a data directory's lock file, held for
// the life of the broker. The kernel releases it when the process exits,
// however it exits, so a crash never leaves a stale lock; the pid inside the
// file is only for the message a second broker prints.
type dirLock struct {
	f *os.File
}

// lockDataDir creates dir if needed, takes its lock and checks that the
// directory takes a write and an fdatasync, so a directory that cannot be
// used fails here with one plain cause rather than halfway through
// recovery. Errors are ExitDataDir start errors naming dir:
// "data dir /x: permission denied", "data dir /x: locked by process 1234 (/x/.lock)".
func lockDataDir(dir string) (*dirLock, error) {
	l, err := tryLockDataDir(dir)
	if err != nil {
		return nil, &startError{code: ExitDataDir, err: fmt.Errorf("data dir %s: %w", dir, errnoOnly(err))}
	}
	return l, nil
}

func tryLockDataDir(dir string) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("locked by %s (%s)", lockHolder(path), path)
		}
		return nil, fmt.Errorf("flock %s: %w", path, err)
	}
	l := &dirLock{f: f}
	// On a full disk the pid may not fit: the lock holds without it, and a
	// broker on a full disk still starts to serve reads.
	if err := l.writePID(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		l.release()
		return nil, err
	}
	// The lock file may be writable in a directory that is not.
	if err := writeProbeFile(filepath.Join(dir, probeFileName)); err != nil {
		l.release()
		return nil, err
	}
	return l, nil
}

func (l *dirLock) writePID() error {
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	_, err := l.f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// diskSpace is the data directory's filesystem: bytes the broker may still
// write (statfs's f_bavail, what is left to unprivileged users) and its
// size. It asks through the lock file's descriptor, which stays open while
// the broker runs, so a renamed or unmounted path cannot mislead it.
func (l *dirLock) diskSpace() (free, total uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(l.f.Fd()), &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", l.f.Name(), err)
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}

// release unlocks; the file stays, as Kafka's does, with the last holder's pid.
func (l *dirLock) release() error {
	return l.f.Close() // closing the only descriptor drops the flock
}

// lockHolder names the process in the lock file. The holder writes its pid
// just after locking, so a second broker racing the first may find none.
func lockHolder(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "another process"
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return "another process"
	}
	return "process " + strconv.Itoa(pid)
}

// errnoOnly reduces an error that carries a system error to that error
// alone: the caller names the directory or address, so "open /x/.lock:
// permission denied" reads "permission denied". Other errors pass unchanged.
func errnoOnly(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// Package cpus pins the harness and the targets it starts to separate
// CPUs. On a small machine the load generator and the target otherwise
// queue for the same cores, and a latency tail measures that queueing as
// much as the target.
package cpus

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Set is a set of CPUs, from a list such as "1", "2-3" or "0,2".
type Set struct {
	cpus unix.CPUSet
	list string
}

// Parse reads a CPU list; "" is no set (nil). Every CPU must be one this
// process may run on.
func Parse(list string) (*Set, error) {
	if list == "" {
		return nil, nil
	}
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return nil, fmt.Errorf("cpu list %q: %w", list, err)
	}
	s := &Set{list: list}
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		first, err := strconv.Atoi(lo)
		last := first
		if err == nil && isRange {
			last, err = strconv.Atoi(hi)
		}
		if err != nil || first < 0 || last < first {
			return nil, fmt.Errorf("cpu list %q: %q is not a CPU or a range of them", list, part)
		}
		for cpu := first; cpu <= last; cpu++ {
			if !allowed.IsSet(cpu) {
				return nil, fmt.Errorf("cpu list %q: CPU %d is not one this process may use (it may use %d)", list, cpu, allowed.Count())
			}
			s.cpus.Set(cpu)
		}
	}
	return s, nil
}

func (s *Set) String() string { return s.list }

// PinSelf pins every thread of this process to s; threads started later
// inherit it from the thread that starts them.
func (s *Set) PinSelf() error {
	pinned := map[int]bool{}
	// The runtime may start a thread while the list is read: read it
	// again until a pass finds none new.
	for range 10 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("pin to CPUs %s: %w", s.list, err)
		}
		fresh := 0
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil || pinned[tid] {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &s.cpus); err != nil && err != unix.ESRCH {
				return fmt.Errorf("pin thread %d to CPUs %s: %w", tid, s.list, err)
			}
			pinned[tid] = true
			fresh++
		}
		if fresh == 0 {
			return nil
		}
	}
	return fmt.Errorf("pin to CPUs %s: threads kept appearing", s.list)
}

// Start starts cmd pinned to s (s nil: as it is). The child inherits the
// affinity of the thread that forks it, so this goroutine holds its
// thread, narrows it for the fork and widens it again.
func Start(cmd *exec.Cmd, s *Set) error {
	if s == nil {
		return cmd.Start()
	}
	runtime.LockOSThread()
	var was unix.CPUSet
	if err := unix.SchedGetaffinity(0, &was); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("start pinned to CPUs %s: %w", s.list, err)
	}
	if err := unix.SchedSetaffinity(0, &s.cpus); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("start pinned to CPUs %s: %w", s.list, err)
	}
	startErr := cmd.Start()
	if err := unix.SchedSetaffinity(0, &was); err != nil {
		// The thread stays narrowed, so it stays locked to this goroutine
		// and ends with it rather than run others; the child is not
		// wanted without a clean start.
		if startErr == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		return fmt.Errorf("start pinned to CPUs %s: restoring this thread's CPUs: %w", s.list, err)
	}
	runtime.UnlockOSThread()
	return startErr
}

package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrFormat marks a /proc file this package cannot parse.
var ErrFormat = errors.New("unexpected /proc format")

// clockTicks is USER_HZ, the unit of utime and stime; 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// CPUSeconds is the user plus system CPU time pid has used.
func CPUSeconds(pid int) (float64, error) {
	path := fmt.Sprintf("/proc/%d/stat", pid)
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("procstat: %w", err)
	}
	// The command name (field 2) may hold spaces and parentheses; fields
	// after the last ')' are space-separated, starting with field 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("procstat %s: %w", path, ErrFormat)
	}
	f := strings.Fields(string(b[i+1:]))
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, fmt.Errorf("procstat %s: %d fields: %w", path, len(f), ErrFormat)
	}
	u, err1 := strconv.ParseUint(f[utime], 10, 64)
	s, err2 := strconv.ParseUint(f[stime], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("procstat %s: %w: %w", path, ErrFormat, err)
	}
	return float64(u+s) / clockTicks, nil
}

// Memory is a process's resident set size now and its peak, in bytes.
type Memory struct {
	RSS int64
	HWM int64 // VmHWM: peak RSS since the process started
}

// ReadMemory reads VmRSS and VmHWM from /proc/PID/status.
func ReadMemory(pid int) (Memory, error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	b, err := os.ReadFile(path)
	if err != nil {
		return Memory{}, fmt.Errorf("procstat: %w", err)
	}
	var m Memory
	found := 0
	for line := range strings.Lines(string(b)) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("procstat %s: %s: %w: %w", path, name, ErrFormat, err)
		}
		if name == "VmRSS" {
			m.RSS = kb << 10
		} else {
			m.HWM = kb << 10
		}
		found++
	}
	if found != 2 {
		return Memory{}, fmt.Errorf("procstat %s: no VmRSS/VmHWM: %w", path, ErrFormat)
	}
	return m, nil
}

// Usage is what a Sampler measured.
type Usage struct {
	PID             int     `json:"pid"`
	CPUSeconds      float64 `json:"cpu_seconds"`        // between Begin and End
	CPUSecondsPerGB float64 `json:"cpu_seconds_per_gb"` // per 1e9 bytes of payload produced in that span
	PeakRSSBytes    int64   `json:"peak_rss_bytes"`     // highest VmRSS sampled during the run
	HWMBytes        int64   `json:"vm_hwm_bytes"`       // the kernel's peak RSS since process start
	Samples         int     `json:"rss_samples"`
}

// Sampler watches one process during a run: RSS every interval, CPU time
// at Begin and End.
type Sampler struct {
	pid  int
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex
	peak     int64
	samples  int
	cpuBegin float64
	err      error
}

// Start begins sampling pid's RSS every interval.
func Start(pid int, interval time.Duration) (*Sampler, error) {
	if _, err := ReadMemory(pid); err != nil {
		return nil, err
	}
	s := &Sampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop(interval)
	return s, nil
}

func (s *Sampler) loop(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.sample()
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

func (s *Sampler) sample() {
	m, err := ReadMemory(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.err = cmpErr(s.err, err)
		return
	}
	s.peak = max(s.peak, m.RSS)
	s.samples++
}

func cmpErr(old, err error) error {
	if old != nil {
		return old
	}
	return err
}

// Begin marks the start of the measured window.
func (s *Sampler) Begin() {
	cpu, err := CPUSeconds(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cpuBegin = cpu
	s.err = cmpErr(s.err, err)
}

// End stops sampling and returns the usage since Begin; payloadBytes is
// the record payload produced in that span, for CPU seconds per GB.
func (s *Sampler) End(payloadBytes int64) (Usage, error) {
	cpu, cpuErr := CPUSeconds(s.pid)
	mem, memErr := ReadMemory(s.pid)
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := errors.Join(s.err, cpuErr, memErr); err != nil {
		return Usage{}, err
	}
	u := Usage{
		PID:          s.pid,
		CPUSeconds:   cpu - s.cpuBegin,
		PeakRSSBytes: max(s.peak, mem.RSS),
		HWMBytes:     mem.HWM,
		Samples:      s.samples + 1,
	}
	if payloadBytes > 0 {
		u.CPUSecondsPerGB = u.CPUSeconds / (float64(payloadBytes) / 1e9)
	}
	return u, nil
}

package procstat

import (
	"os"
	"testing"
	"time"
)

func TestSelf(t *testing.T) {
	pid := os.Getpid()
	s, err := Start(pid, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	s.Begin()
	// Burn some CPU so the delta is visible at 10 ms tick resolution.
	deadline := time.Now().Add(50 * time.Millisecond)
	buf := make([]byte, 64<<20)
	for time.Now().Before(deadline) {
		for i := range buf {
			buf[i]++
		}
	}
	u, err := s.End(1e9)
	if err != nil {
		t.Fatal(err)
	}
	if u.CPUSeconds <= 0 || u.CPUSecondsPerGB != u.CPUSeconds {
		t.Errorf("cpu %+v", u)
	}
	if u.PeakRSSBytes < 64<<20 || u.HWMBytes < 64<<20 {
		t.Errorf("memory %+v", u)
	}
}

func TestMissingProcess(t *testing.T) {
	if _, err := CPUSeconds(-1); err == nil {
		t.Fatal("no error for pid -1")
	}
	if _, err := Start(-1, time.Second); err == nil {
		t.Fatal("no error for pid -1")
	}
}

package cpus

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		t.Fatal(err)
	}
	if s, err := Parse(""); s != nil || err != nil {
		t.Fatalf(`Parse(""): %v, %v`, s, err)
	}
	for _, bad := range []string{"x", "1-", "-1", "3-1", "1,,2", "100000"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	s, err := Parse("0")
	if err != nil {
		t.Fatal(err)
	}
	if s.cpus.Count() != 1 || !s.cpus.IsSet(0) || s.String() != "0" {
		t.Fatalf("Parse(0): %v", s.cpus)
	}
	if allowed.IsSet(1) {
		if s, err := Parse("0-1"); err != nil || s.cpus.Count() != 2 {
			t.Fatalf("Parse(0-1): %v, %v", s, err)
		}
	}
}

// A child started pinned runs on the set alone, and the starting thread
// gets its CPUs back.
func TestStartPins(t *testing.T) {
	var before unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		t.Fatal(err)
	}
	s, err := Parse("0")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd := exec.Command("grep", "Cpus_allowed_list", "/proc/self/status")
	cmd.Stdout = &out
	if err := Start(cmd, s); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(strings.TrimPrefix(out.String(), "Cpus_allowed_list:")); got != "0" {
		t.Fatalf("child's CPUs: %q, want 0", got)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		var cpus unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &cpus); err == nil && cpus != before {
			t.Errorf("thread %d left on %d CPUs, want %d", tid, cpus.Count(), before.Count())
		}
	}
}

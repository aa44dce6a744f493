package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/riffle/riffle/benchmarks/driver"
	"github.com/riffle/riffle/benchmarks/sysprobe"
	"github.com/riffle/riffle/benchmarks/workload"
)

// Target describes the system a run measured.
type Target struct {
	Name     string            `json:"name"`
	Protocol string            `json:"protocol"`
	Addr     string            `json:"addr"`
	Settings map[string]string `json:"settings"`
	CPUs     string            `json:"cpus,omitempty"` // the CPUs it ran on, when pinned
}

// Run is one scenario against one target.
type Run struct {
	Scenario workload.Scenario `json:"scenario"`
	Target   Target            `json:"target"`
	Round    int               `json:"round"` // 1-based, in a comparison
	driver.Result
	Error string `json:"error,omitempty"`
}

// Machine describes where the runs happened.
type Machine struct {
	CPUs      int              `json:"cpus"`
	Kernel    string           `json:"kernel"`
	GoVersion string           `json:"go_version"`
	Note      string           `json:"note,omitempty"`
	Limits    *sysprobe.Limits `json:"limits,omitempty"`
}

// ThisMachine describes the machine the harness runs on.
func ThisMachine(note string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Note: note}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
	}
	return m
}

// Report is everything one harness invocation measured.
type Report struct {
	Created time.Time `json:"created"`
	Command string    `json:"command"`
	Machine Machine   `json:"machine"`
	Runs    []Run     `json:"runs"`
	Ratios  []Ratio   `json:"ratios,omitempty"`
}

// Files are the paths Write produced.
type Files struct {
	JSON, Table string
	Plots       []string
}

// Write stores the report in dir as <name>.json, <name>.txt (the table and
// ratios) and one PNG per run plus, for comparisons, one per scenario.
func (r *Report) Write(dir, name string) (Files, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Files{}, fmt.Errorf("report: %w", err)
	}
	f := Files{JSON: filepath.Join(dir, name+".json"), Table: filepath.Join(dir, name+".txt")}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return f, fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(f.JSON, append(b, '\n'), 0o644); err != nil {
		return f, fmt.Errorf("report: %w", err)
	}
	var sb strings.Builder
	r.WriteTable(&sb)
	if err := os.WriteFile(f.Table, []byte(sb.String()), 0o644); err != nil {
		return f, fmt.Errorf("report: %w", err)
	}
	for _, run := range r.Runs {
		if run.Error != "" && len(run.Summary.Series) == 0 {
			continue
		}
		path := filepath.Join(dir, fmt.Sprintf("%s-%s-%s-r%d.png", name, run.Scenario.Name, run.Target.Name, run.Round))
		if err := PlotRun(path, run); err != nil {
			return f, err
		}
		f.Plots = append(f.Plots, path)
	}
	if len(r.Ratios) > 0 {
		for _, sc := range r.scenarios() {
			path := filepath.Join(dir, fmt.Sprintf("%s-%s-compare.png", name, sc))
			if err := PlotComparison(path, sc, r.Runs); err != nil {
				return f, err
			}
			f.Plots = append(f.Plots, path)
		}
	}
	return f, nil
}

// scenarios lists scenario names in first-run order.
func (r *Report) scenarios() []string {
	var names []string
	seen := map[string]bool{}
	for _, run := range r.Runs {
		if !seen[run.Scenario.Name] {
			seen[run.Scenario.Name] = true
			names = append(names, run.Scenario.Name)
		}
	}
	return names
}

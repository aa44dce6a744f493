// Package session runs scenarios against targets: one run against one
// target, or a comparison that alternates the targets round by round
// (round 1: every scenario on every target, then round 2, ...), so slow
// drift of a shared machine spreads over all targets instead of
// penalising the last one. Each run gets a freshly started target.
package session

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/riffle/riffle/benchmarks/driver"
	"github.com/riffle/riffle/benchmarks/report"
	"github.com/riffle/riffle/benchmarks/sysprobe"
	"github.com/riffle/riffle/benchmarks/targets"
	"github.com/riffle/riffle/benchmarks/workload"
)

// Plan is what to run.
type Plan struct {
	Scenarios []workload.Scenario
	Targets   []targets.Target
	Rounds    int
	// IdleWait bounds the wait before each run for the machine's own
	// housekeeping to end (see waitMachineIdle); 0 skips it.
	IdleWait time.Duration
	// Log receives progress lines and run headers; nil for none.
	Log io.Writer
}

// Run executes the plan and returns one report.Run per scenario, target
// and round. A failed run is recorded with its error and the plan goes on.
func Run(ctx context.Context, p Plan) []report.Run {
	var runs []report.Run
	for round := 1; round <= max(1, p.Rounds); round++ {
		for _, s := range p.Scenarios {
			for _, t := range p.Targets {
				if ctx.Err() != nil {
					return runs
				}
				logf(p.Log, "== round %d: %s on %s\n", round, s.Name, t.Name())
				run := One(ctx, t, s, p.IdleWait, p.Log)
				run.Round = round
				runs = append(runs, run)
			}
		}
	}
	return runs
}

// One starts t, runs s against it and stops it, first waiting up to
// idleWait for the machine's own housekeeping to end.
func One(ctx context.Context, t targets.Target, s workload.Scenario, idleWait time.Duration, log io.Writer) report.Run {
	run := report.Run{Scenario: s, Target: report.Target{Name: t.Name()}, Round: 1}
	if idleWait > 0 {
		waitMachineIdle(ctx, idleWait, log)
	}
	in, err := t.Start(ctx)
	if err != nil {
		run.Error = err.Error()
		logf(log, "%s\n", run.Error)
		return run
	}
	run.Target = report.Target{Name: in.Name, Protocol: in.Protocol, Addr: in.Addr, Settings: in.Settings, CPUs: in.CPUs}
	defer func() {
		if err := in.Stop(); err != nil && run.Error == "" {
			run.Error = err.Error()
		}
	}()
	sys, err := in.System()
	if err != nil {
		run.Error = err.Error()
		return run
	}
	defer sys.Close()
	res, err := driver.Run(ctx, driver.Config{
		Scenario:    s,
		System:      sys,
		TopicPrefix: "bench-" + s.Name,
		BrokerPID:   in.PID,
		Progress:    log,
	})
	run.Result = res
	if err != nil {
		run.Error = err.Error()
		logf(log, "%s on %s: %v\n", s.Name, in.Name, err)
	}
	return run
}

// Before each run the VM's free page reporting may still be handing the
// host what the previous run freed (see sysprobe.WaitPageReportingIdle):
// its passes come about 2 s apart, so 3 s without one is idle.
const pageReportingQuiet = 3 * time.Second

// waitMachineIdle waits up to limit for the machine's own housekeeping to
// end before a run, and says so when that took a while or did not end.
func waitMachineIdle(ctx context.Context, limit time.Duration, log io.Writer) {
	waited, idle, err := sysprobe.WaitPageReportingIdle(ctx, pageReportingQuiet, limit)
	switch {
	case err != nil:
		logf(log, "free page reporting: %v\n", err)
	case !idle:
		logf(log, "free page reporting still busy after %s; running anyway\n", waited.Round(time.Second))
	case waited > pageReportingQuiet+time.Second:
		logf(log, "waited %s for free page reporting to go idle\n", waited.Round(100*time.Millisecond))
	}
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// Stamp names a report file after the time it was made.
func Stamp(t time.Time) string { return t.UTC().Format("20060102-150405") }

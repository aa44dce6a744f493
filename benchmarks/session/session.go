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
	"github.com/riffle/riffle/benchmarks/targets"
	"github.com/riffle/riffle/benchmarks/workload"
)

// Plan is what to run.
type Plan struct {
	Scenarios []workload.Scenario
	Targets   []targets.Target
	Rounds    int
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
				run := One(ctx, t, s, p.Log)
				run.Round = round
				runs = append(runs, run)
			}
		}
	}
	return runs
}

// One starts t, runs s against it and stops it.
func One(ctx context.Context, t targets.Target, s workload.Scenario, log io.Writer) report.Run {
	run := report.Run{Scenario: s, Target: report.Target{Name: t.Name()}, Round: 1}
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

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// Stamp names a report file after the time it was made.
func Stamp(t time.Time) string { return t.UTC().Format("20060102-150405") }

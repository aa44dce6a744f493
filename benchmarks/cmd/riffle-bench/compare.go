package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/riffle/riffle/benchmarks/report"
	"github.com/riffle/riffle/benchmarks/session"
	"github.com/riffle/riffle/benchmarks/sysprobe"
	"github.com/riffle/riffle/benchmarks/targets"
)

func compareCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	var sf scenarioFlags
	var tf targetFlags
	sf.register(fs)
	tf.register(fs)
	names := fs.String("targets", "riffle,kfake,nats", "comma-separated targets, the first is compared with the others: "+targetNames)
	rounds := fs.Int("rounds", 2, "rounds; each round runs every scenario on every target, alternating")
	probe := fs.Duration("probe", 2*time.Second, "duration of each machine-limit probe (loopback TCP, writes with and without fdatasync); 0 skips them")
	note := fs.String("note", "", "a remark stored with the results, e.g. about the machine's load")
	out := fs.String("out", "results", "directory for the JSON, table and PNGs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	scenarios, err := sf.load()
	if err != nil {
		return err
	}
	if err := tf.pin(); err != nil {
		return err
	}
	workDir, err := os.MkdirTemp("", "riffle-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(workDir)
	var ts []targets.Target
	for _, n := range strings.Split(*names, ",") {
		t, err := tf.make(strings.TrimSpace(n), workDir)
		if err != nil {
			return err
		}
		ts = append(ts, t)
	}
	rep := report.Report{Created: time.Now(), Command: "riffle-bench compare " + strings.Join(args, " "),
		Machine: report.ThisMachine(*note)}
	if *probe > 0 {
		fmt.Fprintln(os.Stderr, "== machine limits")
		limits, err := sysprobe.Measure(ctx, workDir, *probe)
		if err != nil {
			return err
		}
		rep.Machine.Limits = &limits
	}
	rep.Runs = session.Run(ctx, session.Plan{Scenarios: scenarios, Targets: ts, Rounds: *rounds, IdleWait: tf.idleWait, Log: os.Stderr})
	rep.Ratios = report.Ratios(rep.Runs, ts[0].Name())
	var failed error
	for _, r := range rep.Runs {
		if r.Error != "" {
			failed = fmt.Errorf("%s on %s round %d: %s", r.Scenario.Name, r.Target.Name, r.Round, r.Error)
		}
	}
	return finish(&rep, *out, "compare-"+session.Stamp(rep.Created), failed)
}

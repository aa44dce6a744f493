package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/riffle/riffle/benchmarks/report"
	"github.com/riffle/riffle/benchmarks/session"
	"github.com/riffle/riffle/benchmarks/targets"
)

func runCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var sf scenarioFlags
	var tf targetFlags
	sf.register(fs)
	tf.register(fs)
	bootstrap := fs.String("bootstrap", "", "Kafka bootstrap address(es) of a running cluster, host:port[,host:port]")
	natsAddr := fs.String("nats", "", "host:port of a running NATS server with JetStream, instead of -bootstrap")
	pid := fs.Int("pid", 0, "PID of the broker, to measure its CPU seconds per GB and peak RSS (with -bootstrap or -nats)")
	target := fs.String("target", "", "start this target instead of using -bootstrap: "+targetNames)
	out := fs.String("out", "bench-results", "directory for the JSON, table and PNG")
	quiet := fs.Bool("quiet", false, "no live progress line")
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
	if len(scenarios) != 1 {
		return fmt.Errorf("%w: run takes one -scenario (compare takes several)", errUsage)
	}
	workDir, err := os.MkdirTemp("", "riffle-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(workDir)
	var t targets.Target
	switch {
	case *target != "" && (*bootstrap != "" || *natsAddr != ""):
		return fmt.Errorf("%w: -target starts its own cluster; drop -bootstrap/-nats", errUsage)
	case *target != "":
		if t, err = tf.make(*target, workDir); err != nil {
			return err
		}
	case *bootstrap != "":
		t = &targets.External{Label: "kafka@" + *bootstrap, Protocol: targets.ProtocolKafka, Addr: *bootstrap, PID: *pid}
	case *natsAddr != "":
		t = &targets.External{Label: "nats@" + *natsAddr, Protocol: targets.ProtocolNATS, Addr: *natsAddr, PID: *pid}
	default:
		return fmt.Errorf("%w: give -bootstrap, -nats or -target", errUsage)
	}
	var progress io.Writer = os.Stderr
	if *quiet {
		progress = nil
	}
	run := session.One(ctx, t, scenarios[0], tf.idleWait, progress)
	rep := report.Report{Created: time.Now(), Command: "riffle-bench run " + strings.Join(args, " "),
		Machine: report.ThisMachine(""), Runs: []report.Run{run}}
	return finish(&rep, *out, "run-"+session.Stamp(rep.Created), errorOf(run))
}

func errorOf(run report.Run) error {
	if run.Error != "" {
		return errors.New(run.Error)
	}
	return nil
}

// finish prints the table, writes the report files and lists them.
func finish(rep *report.Report, dir, name string, runErr error) error {
	rep.WriteTable(os.Stdout)
	files, err := rep.Write(dir, name)
	if err != nil {
		return err
	}
	fmt.Printf("\nwrote %s\n      %s\n", files.JSON, files.Table)
	for _, p := range files.Plots {
		fmt.Printf("      %s\n", p)
	}
	return runErr
}

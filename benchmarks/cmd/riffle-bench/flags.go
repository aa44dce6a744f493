package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/riffle/riffle/benchmarks/internal/cpus"
	"github.com/riffle/riffle/benchmarks/targets"
	"github.com/riffle/riffle/benchmarks/workload"
)

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, " ") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// scenarioFlags are the flags that pick and adjust scenarios.
type scenarioFlags struct {
	files multi
	sets  multi
}

func (f *scenarioFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.files, "scenario", "scenario file (TOML); repeatable for compare; none: the built-in default (1 topic, 1 partition, 1 KiB, 50,000 rec/s)")
	fs.Var(&f.sets, "set", "override a scenario key, e.g. -set rate=0 -set duration=30s; repeatable")
}

// load returns the scenarios with the overrides applied.
func (f *scenarioFlags) load() ([]workload.Scenario, error) {
	var out []workload.Scenario
	if len(f.files) == 0 {
		out = append(out, workload.Default())
	}
	for _, path := range f.files {
		s, err := workload.Load(path)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	for i := range out {
		for _, kv := range f.sets {
			if err := out[i].Set(kv); err != nil {
				return nil, err
			}
		}
		if err := out[i].Validate(); err != nil {
			return nil, fmt.Errorf("scenario %s: %w", out[i].Name, err)
		}
	}
	return out, nil
}

// targetFlags configure the targets the harness starts itself.
type targetFlags struct {
	repo       string
	riffleBin  string
	riffleArgs multi
	targetCPUs string
	loadCPUs   string
	idleWait   time.Duration

	targetSet *cpus.Set
}

func (f *targetFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.repo, "repo", "..", "the Riffle repository to build riffle from")
	fs.StringVar(&f.riffleBin, "riffle-bin", os.Getenv("RIFFLE_BIN"), "a prebuilt riffle binary instead of building one from -repo (default $RIFFLE_BIN)")
	fs.Var(&f.riffleArgs, "riffle-arg", "extra flag for riffle, e.g. -riffle-arg=--set -riffle-arg=log.sync_every_append=true; repeatable")
	fs.StringVar(&f.targetCPUs, "target-cpus", "", "run every target the harness starts on these CPUs only, e.g. 1 or 2-3 (every target alike)")
	fs.DurationVar(&f.idleWait, "idle-wait", 2*time.Minute, "before each run, wait up to this long until the VM's free page reporting (handing the host the memory the last run freed) has been idle for 3 s; its passes stalled every target for 10-40 ms; 0 skips the wait")
	fs.StringVar(&f.loadCPUs, "load-cpus", "", "run the harness itself (the load generator) on these CPUs only, e.g. 0; with -target-cpus on other CPUs, the two do not queue for the same cores")
}

// pin pins the harness to -load-cpus and keeps -target-cpus for the
// targets it makes; call it before make.
func (f *targetFlags) pin() error {
	load, err := cpus.Parse(f.loadCPUs)
	if err != nil {
		return fmt.Errorf("%w: -load-cpus: %v", errUsage, err)
	}
	if f.targetSet, err = cpus.Parse(f.targetCPUs); err != nil {
		return fmt.Errorf("%w: -target-cpus: %v", errUsage, err)
	}
	if load != nil {
		return load.PinSelf()
	}
	return nil
}

// targetNames lists what -target and -targets accept.
const targetNames = "riffle, riffle-sync, kfake, kfake-sync, nats, nats-sync"

// make builds a harness-started target; workDir holds binaries and data.
func (f *targetFlags) make(name, workDir string) (targets.Target, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", name, err)
	}
	serve := []string{self, "serve"}
	switch name {
	case "riffle":
		return &targets.Riffle{RepoDir: f.repo, WorkDir: workDir, CPUs: f.targetSet, Args: f.riffleArgs, Bin: f.riffleBin}, nil
	case "riffle-sync":
		args := append(append([]string(nil), f.riffleArgs...), "--set", "log.sync_every_append=true")
		return &targets.Riffle{RepoDir: f.repo, WorkDir: workDir, CPUs: f.targetSet, Args: args, Label: name, Bin: f.riffleBin}, nil
	case "kfake":
		return &targets.Kfake{Exec: serve, WorkDir: workDir, CPUs: f.targetSet}, nil
	case "kfake-sync":
		return &targets.Kfake{Exec: serve, WorkDir: workDir, CPUs: f.targetSet, Sync: true, Label: name}, nil
	case "nats":
		return &targets.NATS{Exec: serve, WorkDir: workDir, CPUs: f.targetSet}, nil
	case "nats-sync":
		return &targets.NATS{Exec: serve, WorkDir: workDir, CPUs: f.targetSet, SyncAlways: true, Label: name}, nil
	default:
		return nil, fmt.Errorf("%w: unknown target %q (want one of %s)", errUsage, name, targetNames)
	}
}

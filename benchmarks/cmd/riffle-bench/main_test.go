package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/riffle/riffle/benchmarks/chaos"
	"github.com/riffle/riffle/benchmarks/chaos/netns"
	"github.com/riffle/riffle/benchmarks/report"
)

// TestShortRun is CI's check of the harness: build and start riffle, run
// the quick scenario, and read back the JSON and the PNG. No speed bar.
func TestShortRun(t *testing.T) {
	out := t.TempDir()
	err := dispatch(context.Background(), []string{"run", "-quiet", "-target", "riffle", "-target-cpus", "0", "-idle-wait", "0",
		"-repo", "../../..", "-scenario", "../../scenarios/quick.toml", "-out", out})
	if err != nil {
		t.Fatal(err)
	}
	jsons, _ := filepath.Glob(filepath.Join(out, "*.json"))
	pngs, _ := filepath.Glob(filepath.Join(out, "*.png"))
	if len(jsons) != 1 || len(pngs) != 1 {
		t.Fatalf("files: json %v png %v", jsons, pngs)
	}
	b, err := os.ReadFile(jsons[0])
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 1 {
		t.Fatalf("%d runs", len(rep.Runs))
	}
	run := rep.Runs[0]
	s := run.Summary
	if run.Error != "" || s.Errors.Produce+s.Errors.Consume != 0 {
		t.Fatalf("run error %q, errors %+v", run.Error, s.Errors)
	}
	if s.Produce.Records == 0 || s.Ack.Count == 0 || s.E2E.Count == 0 || len(s.Series) == 0 {
		t.Fatalf("empty summary %+v", s)
	}
	if run.Broker == nil || run.Broker.CPUSeconds <= 0 || run.Broker.PeakRSSBytes == 0 {
		t.Fatalf("broker usage %+v", run.Broker)
	}
	if run.Target.CPUs != "0" {
		t.Fatalf("target pinned to %q, want 0", run.Target.CPUs)
	}
	if run.Scenario.Name != "quick" || run.Target.Settings["server"] == "" || run.Client["acks"] != "all" {
		t.Fatalf("settings not stored: %+v %+v %+v", run.Scenario, run.Target.Settings, run.Client)
	}
	f, err := os.Open(pngs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 400 {
		t.Fatalf("plot is %v", b)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"bogus"}, {"run"}, {"run", "-target", "nope"}, {"serve", "kfake"},
		{"chaos", "-nodes", "4"}, {"chaos", "-txn-producers", "-1"}, {"chaos", "-nemesis", "kill,flood"}, {"chaos", "extra"}, {"chaos", "-help"},
		{"run", "-target", "riffle", "-target-cpus", "1-"}, {"compare", "-load-cpus", "100000"}} {
		if err := dispatch(context.Background(), args); !errors.Is(err, errUsage) && !errors.Is(err, flag.ErrHelp) {
			t.Errorf("dispatch(%q): %v, want a usage error (exit 2)", args, err)
		}
	}
}

// TestChaosShort is the fault-injection run of the test command: 3 nodes
// for 60 s under kills and partitions; the checker must find nothing. It
// needs root (network namespaces) and skips without it.
func TestChaosShort(t *testing.T) {
	chaosRun(t, "-nodes", "3", "-duration", "60s", "-nemesis", "kill,partition", "-seed", "11")
}

// TestChaosLong: 5 nodes, 10 minutes, every nemesis (about 13 minutes).
func TestChaosLong(t *testing.T) {
	if os.Getenv("RIFFLE_LONG") != "1" {
		t.Skip("skipped: a 10-minute fault-injection run; set RIFFLE_LONG=1")
	}
	chaosRun(t, "-nodes", "5", "-duration", "10m", "-nemesis", "all", "-seed", "5")
}

// chaosRun runs riffle-bench chaos with args and requires a clean
// checker, every fault injected, and chaos.json's top-level keys.
func chaosRun(t *testing.T, args ...string) {
	if err := netns.Require(); err != nil {
		t.Skipf("skipped: the chaos run needs root, ip, tc and nft: %v", err)
	}
	out := os.Getenv("RIFFLE_CHAOS_OUT") // keep the report, e.g. to commit it
	if out == "" {
		out = t.TempDir()
	}
	err := dispatch(context.Background(), append([]string{"chaos", "-repo", "../../..", "-out", out}, args...))
	b, rerr := os.ReadFile(filepath.Join(out, "chaos.json"))
	if rerr != nil {
		t.Fatalf("run: %v; no chaos.json: %v", err, rerr)
	}
	txt, _ := os.ReadFile(filepath.Join(out, "chaos.txt"))
	if err != nil {
		t.Fatalf("run: %v\n%s", err, txt)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"acknowledged", "anomalies", "faults", "settings"} {
		if _, ok := top[k]; !ok {
			t.Errorf("chaos.json has no %q", k)
		}
	}
	var rep struct {
		Acknowledged int64            `json:"acknowledged"`
		Anomalies    []any            `json:"anomalies"`
		Faults       []chaos.Fault    `json:"faults"`
		Replicas     []any            `json:"replicas"`
		NotInjected  []string         `json:"not_injected"`
		Errors       []string         `json:"errors"`
		Transactions map[string]int64 `json:"transactions"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	// The default -txn-producers 1 commits and deliberately aborts.
	if rep.Acknowledged < 1000 || len(rep.Faults) < 2 || len(rep.Replicas) == 0 || rep.Anomalies == nil || len(rep.Anomalies) != 0 ||
		rep.Transactions["committed"] < 3 || rep.Transactions["aborted"] < 1 {
		t.Fatalf("acknowledged %d, faults %d, replica files %d, transactions %v, anomalies %v\n%s",
			rep.Acknowledged, len(rep.Faults), len(rep.Replicas), rep.Transactions, rep.Anomalies, txt)
	}
	if len(rep.Errors) > 0 {
		// A node that exited by itself, a heal that failed, a cluster that
		// did not fully recover: bugs too, even with no data anomaly.
		t.Errorf("run errors: %v", rep.Errors)
	}
	for _, f := range rep.Faults {
		// A delay on a kernel without netem is reported, not injected.
		if f.Error != "" && (f.Kind != chaos.NemesisDelay || len(rep.NotInjected) == 0) {
			t.Errorf("fault %+v not injected", f)
		}
	}
	t.Logf("\n%s", txt)
}

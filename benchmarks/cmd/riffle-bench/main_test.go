package main

import (
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/riffle/riffle/benchmarks/report"
)

// TestShortRun is CI's check of the harness: build and start riffle, run
// the quick scenario, and read back the JSON and the PNG. No speed bar.
func TestShortRun(t *testing.T) {
	out := t.TempDir()
	err := dispatch(context.Background(), []string{"run", "-quiet", "-target", "riffle",
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
	for _, args := range [][]string{nil, {"bogus"}, {"run"}, {"run", "-target", "nope"}, {"serve", "kfake"}} {
		if err := dispatch(context.Background(), args); err == nil {
			t.Errorf("dispatch(%q) succeeded", args)
		}
	}
}

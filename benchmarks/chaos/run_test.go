package chaos

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/riffle/riffle/benchmarks/chaos/check"
	"github.com/riffle/riffle/benchmarks/chaos/netns"
	"github.com/riffle/riffle/benchmarks/targets"
)

// TestUncleanElectionLosesWrites proves the checker sees lost writes on a
// real cluster: with unclean election on and min.insync.replicas 1, one
// partition's leader is cut off from its followers' fetches (the
// controller still answers, so the ISR shrinks to the leader, which then
// acknowledges alone), then killed; the controller fences it and elects
// an out-of-sync follower, and when the old leader returns it truncates
// what it acknowledged. About two and a half minutes.
func TestUncleanElectionLosesWrites(t *testing.T) {
	if os.Getenv("RIFFLE_LONG") != "1" {
		t.Skip("skipped: a 90 s fault-injection run; set RIFFLE_LONG=1")
	}
	if err := netns.Require(); err != nil {
		t.Skipf("skipped: %v", err)
	}
	dir := t.TempDir()
	target := &targets.Riffle{RepoDir: "../..", WorkDir: dir, Bin: os.Getenv("RIFFLE_BIN")}
	if err := target.Build(context.Background()); err != nil {
		t.Fatal(err)
	}
	bin, version := target.Binary()
	// One seeded choice for both faults: they hit the same partition.
	const pick = 7
	plan := []Fault{
		// Longer than replica.lag.time.max.ms (30 s): the ISR shrinks.
		{Kind: NemesisPartition, Target: "replication", Start: 8, Kept: true, hold: 40 * time.Second, pick: pick},
		// Longer than the broker session timeout (9 s): fenced, replaced.
		{Kind: NemesisKill, Target: "partition-leader", Start: 50, Kept: true, hold: 25 * time.Second, pick: pick},
	}
	rep, err := Run(context.Background(), Options{Nodes: 3, Duration: 80 * time.Second, Nemeses: []string{NemesisPartition, NemesisKill},
		Seed: pick, Unclean: true, Bin: bin, Version: version, WorkDir: dir, Rate: 200, Log: testLog{t}, plan: plan})
	if err != nil {
		t.Fatal(err)
	}
	files, err := rep.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var lost int
	for _, a := range rep.Anomalies {
		if a.Kind == check.Lost {
			lost++
		}
	}
	if lost == 0 {
		t.Fatalf("no lost writes under unclean election; report %v, anomalies %+v, errors %v", files, rep.Anomalies, rep.Errors)
	}
	t.Logf("%d lost acknowledged records of %d, %d anomalies in all", lost, rep.Acknowledged, len(rep.Anomalies))
}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Logf("%s", b)
	return len(b), nil
}

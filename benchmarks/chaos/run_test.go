package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
// what it acknowledged. The same faults with the default settings lose
// nothing: the lone leader refuses acks=all (NOT_ENOUGH_REPLICAS) and the
// partition waits for it. About two minutes each.
func TestUncleanElectionLosesWrites(t *testing.T) {
	if os.Getenv("RIFFLE_LONG") != "1" {
		t.Skip("skipped: two 80 s fault-injection runs; set RIFFLE_LONG=1")
	}
	if err := netns.Require(); err != nil {
		t.Skipf("skipped: %v", err)
	}
	for _, unclean := range []bool{true, false} {
		t.Run(fmt.Sprintf("unclean=%v", unclean), func(t *testing.T) {
			rep := uncleanTrap(t, unclean)
			var lost int
			for _, a := range rep.Anomalies {
				if a.Kind == check.Lost {
					lost++
				}
			}
			t.Logf("%d lost acknowledged records of %d, %d anomalies in all, produce errors %v",
				lost, rep.Acknowledged, len(rep.Anomalies), rep.ProduceErrors)
			switch {
			case unclean && lost == 0:
				t.Fatalf("no lost writes under unclean election; anomalies %+v, errors %v", rep.Anomalies, rep.Errors)
			case !unclean && len(rep.Anomalies) > 0:
				var sb strings.Builder
				rep.WriteText(&sb)
				t.Fatalf("anomalies with the default settings:\n%s", sb.String())
			}
		})
	}
}

// uncleanTrap runs the planned partition and kill on a 3-node cluster.
func uncleanTrap(t *testing.T, unclean bool) *Report {
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
		Seed: pick, Unclean: unclean, Bin: bin, Version: version, WorkDir: dir, Rate: 200, Log: testLog{t}, plan: plan})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if keep := os.Getenv("RIFFLE_CHAOS_OUT"); keep != "" {
		out = filepath.Join(keep, fmt.Sprintf("unclean-%v", unclean))
	}
	if _, err := rep.Write(out); err != nil {
		t.Fatal(err)
	}
	return rep
}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Logf("%s", b)
	return len(b), nil
}

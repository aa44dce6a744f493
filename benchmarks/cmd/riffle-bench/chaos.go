package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/riffle/riffle/benchmarks/chaos"
	"github.com/riffle/riffle/benchmarks/chaos/netns"
	"github.com/riffle/riffle/benchmarks/targets"
)

// errAnomalies marks a run whose checker found anomalies; it exits 1.
var errAnomalies = errors.New("the checker found anomalies")

const chaosHelp = `riffle-bench chaos [flags]: a fault-injection run with a checker.

Starts -nodes riffle processes, each in its own network namespace on a
bridge (needs root, ip, tc and nft), runs acks=all idempotent producers,
a consumer group and a direct reader with franz-go while the nemeses
inject faults on a seeded schedule, heals, drains, and checks that every
acknowledged record is in the final log exactly once at its offset, that
no two reads saw different records at one offset, that each reader's reads
are a prefix of the final log and reach its end, that committed offsets
never go back, and that the replicas' segment files are byte-identical.

With -txn-producers N (default 1), N transactional producers write
transactions of 3 records across the partitions of topic chaos-txn,
aborting one in 5 on purpose, and a read_committed reader reads it from
the start; the checker requires every committed transaction read whole
and once, every aborted one not at all, and every one whose outcome the
producer could not know (an error) all or nothing.

Writes DIR/chaos.json, chaos.txt, chaos.png (faults as bands),
history.json.gz and node-N.log.

Faults injected for real (-nemesis, comma-separated, or all):
  kill       kill -9 of a random node, of a partition's leader or of the
             active controller; restarted on its data after the hold
  pause      SIGSTOP of a random node, SIGCONT after the hold
  partition  nftables drops between nodes: a majority/minority split, one
             node isolated, a bridge (two sides that share one node), or
             the Kafka port cut between a partition's leader and the other
             nodes (raft and controller traffic still flows)
  loss       10-40% random packet loss on one node's link (nftables)
  delay      50-250 ms delay with jitter on one node's link (tc netem;
             listed as not injected on kernels without sch_netem)
Not injected (out of reach on one machine): clock jumps, and a power loss
that drops unsynced page-cache writes (a killed process's writes survive
in the page cache). The deterministic simulations in replica/ and quorum/
cover those.

Exit status: 0 no anomaly, 1 anomalies, 2 usage or environment error (not
root, a missing command, a cluster that never came up).

Flags:
`

func chaosCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), chaosHelp)
		fs.PrintDefaults()
	}
	var tf targetFlags
	tf.register(fs)
	nodes := fs.Int("nodes", 3, "cluster size: 3 or 5")
	duration := fs.Duration("duration", 60*time.Second, "how long faults are injected (the drain and checks come after)")
	nemesis := fs.String("nemesis", "kill,pause,partition", "faults to inject, comma-separated: "+strings.Join(chaos.Nemeses, ", ")+", or all")
	seed := fs.Uint64("seed", 0, "seed of the fault schedule; 0 picks one from the clock (the report names it)")
	out := fs.String("out", "chaos-results", "directory for chaos.json, chaos.txt, chaos.png, history.json.gz and node-N.log")
	unclean := fs.Bool("unclean", false, "unsafe: the topic allows unclean leader election and has min.insync.replicas 1 (expect lost writes)")
	rate := fs.Int("rate", 200, "records/s over all producers")
	txnProducers := fs.Int("txn-producers", 1, "transactional producers (topic chaos-txn, read back read_committed); 0 for none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: chaos takes no arguments, got %q", errUsage, fs.Args())
	}
	if *nodes != 3 && *nodes != 5 {
		return fmt.Errorf("%w: -nodes %d: want 3 or 5", errUsage, *nodes)
	}
	if *duration < 10*time.Second || *rate < 10 || *txnProducers < 0 {
		return fmt.Errorf("%w: -duration must be at least 10s, -rate at least 10 and -txn-producers at least 0", errUsage)
	}
	nemeses, err := parseNemeses(*nemesis)
	if err != nil {
		return err
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	if err := netns.Require(); err != nil {
		return err
	}
	workDir, err := os.MkdirTemp("", "riffle-chaos-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(workDir)
	target := &targets.Riffle{RepoDir: tf.repo, WorkDir: workDir, Bin: tf.riffleBin}
	if err := target.Build(ctx); err != nil {
		return fmt.Errorf("%w: %v", netns.ErrEnvironment, err)
	}
	bin, version := target.Binary()
	rep, err := chaos.Run(ctx, chaos.Options{Nodes: *nodes, Duration: *duration, Nemeses: nemeses, Seed: *seed,
		Unclean: *unclean, Bin: bin, Args: tf.riffleArgs, Version: version, WorkDir: workDir, Rate: *rate, TxnProducers: *txnProducers, Log: os.Stderr})
	if err != nil {
		return fmt.Errorf("%w: the run (seed %d) could not be judged: %v", netns.ErrEnvironment, *seed, err)
	}
	rep.WriteText(os.Stdout)
	files, err := rep.Write(*out)
	if err != nil {
		return err
	}
	fmt.Printf("\nwrote %s\n", strings.Join(files, "\n      "))
	if len(rep.Anomalies) > 0 {
		return fmt.Errorf("%w: %d (seed %d)", errAnomalies, len(rep.Anomalies), *seed)
	}
	return nil
}

func parseNemeses(s string) ([]string, error) {
	if s == "all" {
		return chaos.Nemeses, nil
	}
	var out []string
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		if !slices.Contains(chaos.Nemeses, n) {
			return nil, fmt.Errorf("%w: -nemesis %q: want a comma-separated list of %s, or all", errUsage, n, strings.Join(chaos.Nemeses, ", "))
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

package chaos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/benchmarks/chaos/check"
	"github.com/riffle/riffle/benchmarks/chaos/netns"
	"github.com/riffle/riffle/benchmarks/targets"
)

// Options are a run's settings (the command's flags).
type Options struct {
	Nodes    int
	Duration time.Duration
	Nemeses  []string
	Seed     uint64
	Unclean  bool     // unclean.leader.election.enable=true and min.insync.replicas=1
	Bin      string   // the riffle binary
	Args     []string // extra flags for every node
	Version  string   // what Bin was built from
	WorkDir  string   // node data and logs
	Rate     int      // records/s over all producers
	// TxnProducers is the number of transactional producers (0: none).
	TxnProducers int
	Log          io.Writer

	plan []Fault // replaces the seeded schedule (tests)
}

// Timeouts of the run's phases; generous, for a loaded 2-core machine.
const (
	readyTimeout    = 3 * time.Minute
	flushTimeout    = 90 * time.Second
	healthyTimeout  = 3 * time.Minute
	drainTimeout    = 3 * time.Minute
	nodeStopTimeout = 30 * time.Second
)

// partitionsPerTopic is the run's partition count: enough that every node
// leads one.
func partitionsPerTopic(nodes int) int { return nodes + 1 }

// Run sets up the network and the cluster, runs the workload under the
// nemeses, heals, drains, checks and returns the report. The network and
// the processes are gone when it returns, on every path. An error means
// the run could not be judged (environment, cluster never came up).
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := netns.Require(); err != nil {
		return nil, err
	}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, "chaos: "+format+"\n", args...)
		}
	}
	nt, err := netns.Setup(ctx, o.Nodes)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := nt.Close(); err != nil {
			logf("teardown: %v", err)
		}
	}()
	logf("network %s: bridge %s, nodes %v", nt.ID, nt.Bridge, nodeIPs(nt))
	c := newCluster(nt, o.Bin, o.Args, o.WorkDir)
	defer c.stopAll(nodeStopTimeout)
	for i := range c.nodes {
		if err := c.start(i); err != nil {
			return nil, err
		}
	}
	rep := &Report{Settings: settings(o, nt), Anomalies: []check.Anomaly{}, Faults: []Fault{}}
	rf := min(3, o.Nodes)
	configs := map[string]string{"min.insync.replicas": "2"}
	if o.Unclean {
		configs = map[string]string{"min.insync.replicas": "1", "unclean.leader.election.enable": "true"}
	}
	wcfg := workloadConfig{topic: "chaos", group: "chaos-group", partitions: partitionsPerTopic(o.Nodes), producers: 2, rate: o.Rate,
		txnTopic: "chaos-txn", txnProducers: o.TxnProducers}
	adminCl, err := kgo.NewClient(kgo.SeedBrokers(c.bootstrap()...), kgo.RequestTimeoutOverhead(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("admin client: %w", err)
	}
	defer adminCl.Close()
	adm := admin{adminCl}
	err = waitFor(ctx, readyTimeout, "topic created on a fresh cluster", func(ctx context.Context) error {
		for _, topic := range wcfg.topics() {
			if err := adm.createTopic(ctx, topic, wcfg.partitions, rf, configs); err != nil {
				return err
			}
			if err := adm.fullyReplicated(ctx, topic, wcfg.partitions); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w\nnode 1's output ends:\n%s", err, targets.Tail(c.nodes[0].logPath))
	}
	start := time.Now()
	rep.Settings.WorkloadStart = start.UTC()
	r := newRecorder(start)
	cl, err := startClients(ctx, wcfg, c.bootstrap(), r, adm)
	if err != nil {
		return nil, err
	}
	defer cl.close()
	plan := o.plan
	if plan == nil {
		plan = schedule(o.Seed, o.Nemeses, o.Nodes, o.Duration)
	}
	nm := &nemesis{c: c, adm: adm, topic: wcfg.topic, start: start, netem: nt.HasNetem(ctx)}
	if !nm.netem && slices.Contains(o.Nemeses, NemesisDelay) {
		rep.NotInjected = append(rep.NotInjected, "delay: this kernel has no netem qdisc (sch_netem); delay faults are listed with an error")
	}
	logf("%d faults planned over %v (seed %d)", len(plan), o.Duration, o.Seed)
	rctx, cancel := context.WithTimeout(ctx, o.Duration)
	rep.Faults = append(rep.Faults, nm.run(rctx, plan, func(s string) { logf("%s", s) })...)
	<-rctx.Done()
	cancel()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted: %w", ctx.Err())
	}

	// Heal everything, then let the producers finish what they sent.
	hctx := context.WithoutCancel(ctx)
	healErr := errors.Join(nt.Heal(hctx), c.healAll())
	if healErr != nil {
		rep.Errors = append(rep.Errors, "heal: "+healErr.Error())
	}
	logf("%.1fs healed everything; draining", time.Since(start).Seconds())
	cl.stopProducing(flushTimeout)
	produceEnd := time.Now()
	cl.endTransactions()
	if err := waitFor(ctx, healthyTimeout, "every partition fully replicated after the heal", func(ctx context.Context) error {
		return adm.fullyReplicated(ctx, wcfg.topic, wcfg.partitions)
	}); err != nil {
		rep.Errors = append(rep.Errors, err.Error())
	}
	var ends map[int32]int64
	if err := waitFor(ctx, drainTimeout, "end offsets", func(ctx context.Context) (err error) {
		ends, err = adm.endOffsets(ctx, wcfg.topic, wcfg.partitions)
		return err
	}); err != nil {
		return nil, err
	}
	// The readers catch up before they stop, so their reads cover the log;
	// one that does not within the deadline is a stuck reader.
	if err := waitFor(ctx, drainTimeout, "readers caught up", func(context.Context) error {
		if err := caughtUp(r, ends, wcfg.group); err != nil {
			return err
		}
		return txnCaughtUp(r)
	}); err != nil {
		logf("%v", err)
	}
	cl.close()
	dctx, dcancel := context.WithTimeout(ctx, drainTimeout)
	final, err := readFinal(dctx, c.bootstrap(), wcfg.topic, ends)
	dcancel()
	if err != nil {
		return nil, err
	}
	// Committed offsets once more, after everything stopped.
	if offs, err := adm.committed(hctx, 0, wcfg.group, wcfg.topic); err == nil {
		now := time.Now()
		for p, o := range offs {
			r.commit(check.Commit{Group: wcfg.group, Partition: p, Offset: o, Time: now, Source: "fetch after the drain"})
		}
	}
	// Byte-identical replicas: once every replica holds the leader's log
	// (the sizes agree), stop the nodes so the files are still, and hash.
	replicas := segmentSizes(c, wcfg.topic)
	_ = waitFor(ctx, healthyTimeout, "replicas of equal size", func(context.Context) error {
		replicas = segmentSizes(c, wcfg.topic)
		return sameSizes(replicas)
	})
	adminCl.Close()
	c.stopAll(nodeStopTimeout)
	files, err := hashSegments(c, wcfg.topic)
	if err != nil {
		rep.Errors = append(rep.Errors, err.Error())
	}

	r.mu.Lock()
	h := r.hist
	h.Final, h.Replicas = final, files
	times := r.times
	rep.ProduceErrors = r.errCodes
	rep.ProduceErrorSamples = r.errSample
	r.mu.Unlock()
	rep.Anomalies = append(rep.Anomalies, check.Check(h)...)
	rep.Acknowledged = int64(len(h.Acks))
	rep.Reads = int64(len(h.Reads))
	rep.CommitsObserved = int64(len(h.Commits))
	rep.Transactions = map[string]int64{check.Committed: 0, check.Aborted: 0, check.Unknown: 0}
	for _, t := range h.Txns {
		rep.Transactions[t.Outcome]++
	}
	rep.TxnReads = int64(len(h.TxnReads))
	for _, recs := range final {
		rep.FinalRecords += int64(len(recs))
	}
	rep.Replicas = files
	recovery(rep.Faults, times, wcfg.partitions, start)
	rep.Unavailability = unavailable(times, wcfg.partitions, start, produceEnd)
	rep.Series = r.rec.Summarize(produceEnd).Series
	rep.history = h
	for _, n := range c.nodes {
		rep.nodeLogs = append(rep.nodeLogs, n.logPath)
	}
	rep.WorstRecoveryS = worst(rep.Faults)
	return rep, nil
}

func nodeIPs(nt *netns.Net) []string {
	var out []string
	for _, n := range nt.Nodes {
		out = append(out, n.IP.String())
	}
	return out
}

// caughtUp reports nil once the direct reader and the group have read
// every partition up to its end offset.
func caughtUp(r *recorder, ends map[int32]int64, group string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	high := map[string]map[int32]int64{}
	for _, rd := range r.hist.Reads {
		name := rd.Reader
		if rd.Group != "" {
			name = "group " + rd.Group
		}
		if high[name] == nil {
			high[name] = map[int32]int64{}
		}
		high[name][rd.Partition] = max(high[name][rd.Partition], rd.Offset+1)
	}
	for _, name := range []string{directReader, "group " + group} {
		for p, end := range ends {
			if high[name][p] < end {
				return fmt.Errorf("%s at %d of %d in partition %d", name, high[name][p], end, p)
			}
		}
	}
	return nil
}

// partitionDir is the topic's partition p in a node's data directory.
func partitionDir(n *node, topic string, p int32) string {
	return filepath.Join(n.dataDir, fmt.Sprintf("%s-%d", topic, p))
}

// replicaDirs lists, for each node, the topic's partition directories it
// holds, by partition.
func replicaDirs(c *cluster, topic string) map[int]map[int32]string {
	out := map[int]map[int32]string{}
	for _, n := range c.nodes {
		entries, _ := os.ReadDir(n.dataDir)
		for _, e := range entries {
			name, ok := strings.CutPrefix(e.Name(), topic+"-")
			if !ok || !e.IsDir() {
				continue
			}
			p, err := strconv.Atoi(name)
			if err != nil {
				continue
			}
			if out[n.id] == nil {
				out[n.id] = map[int32]string{}
			}
			out[n.id][int32(p)] = partitionDir(n, topic, int32(p))
		}
	}
	return out
}

// segmentSizes returns the size of each replica's segment files.
func segmentSizes(c *cluster, topic string) []check.ReplicaFile {
	var out []check.ReplicaFile
	for node, parts := range replicaDirs(c, topic) {
		for p, dir := range parts {
			logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
			for _, l := range logs {
				if st, err := os.Stat(l); err == nil {
					out = append(out, check.ReplicaFile{Node: int32(node), Partition: p, Name: filepath.Base(l), Size: st.Size()})
				}
			}
		}
	}
	return out
}

// sameSizes reports nil when every partition's replicas agree on sizes.
func sameSizes(files []check.ReplicaFile) error {
	for _, a := range check.Check(check.History{Replicas: files}) {
		return fmt.Errorf("partition %d: %s %v", a.Partition, a.Detail, a.Records)
	}
	return nil
}

// hashSegments hashes every segment (.log) file of every replica. Index
// files are not compared: each replica builds its sparse index from the
// appends it made, which legitimately differ.
func hashSegments(c *cluster, topic string) ([]check.ReplicaFile, error) {
	files := segmentSizes(c, topic)
	for i := range files {
		f := &files[i]
		path := filepath.Join(c.nodes[f.Node-1].dataDir, fmt.Sprintf("%s-%d", topic, f.Partition), f.Name)
		b, err := os.ReadFile(path)
		if err != nil {
			return files, fmt.Errorf("hash %s: %w", path, err)
		}
		sum := sha256.Sum256(b)
		f.Size, f.SHA256 = int64(len(b)), hex.EncodeToString(sum[:])
	}
	sort.Slice(files, func(i, j int) bool {
		a, b := files[i], files[j]
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Node < b.Node
	})
	return files, nil
}

// recovery sets each fault's RecoveryS: the time from its start until
// every partition acknowledged a record sent after it was in place.
func recovery(faults []Fault, times []ackTimes, partitions int, start time.Time) {
	for i := range faults {
		f := &faults[i]
		at := start.Add(time.Duration(f.Start * float64(time.Second)))
		in := start.Add(time.Duration(f.Injected * float64(time.Second)))
		first := map[int32]time.Time{}
		for _, t := range times {
			if t.sent.Before(in) {
				continue
			}
			if cur, ok := first[t.partition]; !ok || t.acked.Before(cur) {
				first[t.partition] = t.acked
			}
		}
		f.RecoveryS = -1
		if len(first) < partitions {
			continue
		}
		var last time.Time
		for _, t := range first {
			if t.After(last) {
				last = t
			}
		}
		f.RecoveryS = last.Sub(at).Seconds()
	}
}

func worst(faults []Fault) float64 {
	w := 0.0
	for _, f := range faults {
		if f.RecoveryS < 0 {
			return -1
		}
		w = max(w, f.RecoveryS)
	}
	return w
}

// Window is a time a partition acknowledged nothing.
type Window struct {
	Partition int32   `json:"partition"`
	From      float64 `json:"from_s"`
	To        float64 `json:"to_s"`
}

// unavailableGap is the silence that counts as unavailability: the
// producers send to every partition many times a second.
const unavailableGap = 2 * time.Second

// unavailable lists, per partition, the gaps between acknowledgements
// (and from the start, and to the end of producing) longer than
// unavailableGap.
func unavailable(times []ackTimes, partitions int, start, end time.Time) []Window {
	per := map[int32][]time.Time{}
	for _, t := range times {
		per[t.partition] = append(per[t.partition], t.acked)
	}
	var out []Window
	for p := range int32(partitions) {
		ts := append([]time.Time{start}, per[p]...)
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		ts = append(ts, end)
		for i := 1; i < len(ts); i++ {
			if ts[i].Sub(ts[i-1]) > unavailableGap {
				out = append(out, Window{Partition: p, From: ts[i-1].Sub(start).Seconds(), To: ts[i].Sub(start).Seconds()})
			}
		}
	}
	return out
}

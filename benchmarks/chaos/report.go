package chaos

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/riffle/riffle/benchmarks/chaos/check"
	"github.com/riffle/riffle/benchmarks/chaos/netns"
	"github.com/riffle/riffle/benchmarks/report"
	"github.com/riffle/riffle/benchmarks/stats"
)

// Report is what a run found; chaos.json holds it.
type Report struct {
	Settings     Settings        `json:"settings"`
	Acknowledged int64           `json:"acknowledged"`
	Anomalies    []check.Anomaly `json:"anomalies"`
	Faults       []Fault         `json:"faults"`
	// NotInjected names nemeses asked for that this machine cannot inject.
	NotInjected         []string          `json:"not_injected,omitempty"`
	WorstRecoveryS      float64           `json:"worst_recovery_s"` // -1: a fault never recovered in the run
	ProduceErrors       map[string]int64  `json:"produce_errors"`   // failed sends by error code
	ProduceErrorSamples map[string]string `json:"produce_error_samples,omitempty"`
	Unavailability      []Window          `json:"unavailability"`
	Reads               int64             `json:"reads"`
	CommitsObserved     int64             `json:"commits_observed"`
	// Transactions counts the transactions by outcome as their producer
	// saw it (committed, aborted, unknown); TxnReads the read_committed
	// reads of their topic.
	Transactions map[string]int64    `json:"transactions"`
	TxnReads     int64               `json:"txn_reads"`
	FinalRecords int64               `json:"final_records"`
	Replicas     []check.ReplicaFile `json:"replicas"`
	// Errors are problems of the run itself (a heal that failed, a cluster
	// that did not fully recover); they do not count as anomalies.
	Errors []string      `json:"errors,omitempty"`
	Series []stats.Point `json:"series"`

	history  check.History
	nodeLogs []string // each node's output, copied next to the report
}

// Settings is how the run was made, unsafe settings marked.
type Settings struct {
	Nodes             int       `json:"nodes"`
	Duration          string    `json:"duration"`
	Nemeses           []string  `json:"nemeses"`
	Seed              uint64    `json:"seed"`
	Unclean           bool      `json:"unclean"`
	Topic             string    `json:"topic"`
	Partitions        int       `json:"partitions"`
	ReplicationFactor int       `json:"replication_factor"`
	MinInsyncReplicas int       `json:"min_insync_replicas"`
	Acks              string    `json:"acks"`
	Idempotent        bool      `json:"idempotent"`
	RatePerSec        int       `json:"rate_per_sec"`
	TxnProducers      int       `json:"txn_producers"`
	TxnTopic          string    `json:"txn_topic,omitempty"`
	Riffle            string    `json:"riffle"`
	RiffleArgs        []string  `json:"riffle_args"`
	Network           string    `json:"network"`
	Started           time.Time `json:"started"`
	// WorkloadStart is time 0 of the faults' and the series' seconds.
	WorkloadStart time.Time `json:"workload_start"`
	// Unsafe lists the settings Kafka documents as able to lose
	// acknowledged records; a run with any may report lost writes.
	Unsafe []string `json:"unsafe"`
}

func settings(o Options, nt *netns.Net) Settings {
	s := Settings{Nodes: o.Nodes, Duration: o.Duration.String(), Nemeses: o.Nemeses, Seed: o.Seed, Unclean: o.Unclean,
		Topic: "chaos", Partitions: partitionsPerTopic(o.Nodes), ReplicationFactor: min(3, o.Nodes), MinInsyncReplicas: 2,
		Acks: "all", Idempotent: true, RatePerSec: o.Rate, TxnProducers: o.TxnProducers, Riffle: o.Version, RiffleArgs: o.Args, Started: time.Now().UTC(),
		Network: fmt.Sprintf("%s: namespaces riffle-chaos-%s-n*, bridge %s (%s)", nt.ID, nt.ID, nt.Bridge, nt.HostIP),
		Unsafe:  []string{}}
	if o.TxnProducers > 0 {
		s.TxnTopic = "chaos-txn"
	}
	if o.Unclean {
		s.MinInsyncReplicas = 1
		s.Unsafe = append(s.Unsafe, "unclean.leader.election.enable=true", "min.insync.replicas=1")
	}
	return s
}

// Write stores chaos.json, chaos.txt, chaos.png, the full history
// (history.json.gz) and each node's output (node-N.log) in dir and
// returns their paths.
func (r *Report) Write(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	js, txt, png, hist := filepath.Join(dir, "chaos.json"), filepath.Join(dir, "chaos.txt"), filepath.Join(dir, "chaos.png"), filepath.Join(dir, "history.json.gz")
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(js, append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var sb strings.Builder
	r.WriteText(&sb)
	if err := os.WriteFile(txt, []byte(sb.String()), 0o644); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var bands []report.Band
	for _, f := range r.Faults {
		bands = append(bands, report.Band{Label: f.Kind, From: f.Start, To: f.End})
	}
	title := fmt.Sprintf("chaos: %d nodes, %s, seed %d", r.Settings.Nodes, strings.Join(r.Settings.Nemeses, ","), r.Settings.Seed)
	if err := report.PlotTimeline(png, title, r.Series, bands); err != nil {
		return nil, err
	}
	if err := writeGzipJSON(hist, r.history); err != nil {
		return nil, err
	}
	files := []string{js, txt, png, hist}
	for i, l := range r.nodeLogs {
		b, err := os.ReadFile(l)
		if err != nil {
			return files, fmt.Errorf("report: %w", err)
		}
		dst := filepath.Join(dir, fmt.Sprintf("node-%d.log", i+1))
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return files, fmt.Errorf("report: %w", err)
		}
		files = append(files, dst)
	}
	return files, nil
}

func writeGzipJSON(path string, v any) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	zw := gzip.NewWriter(f)
	err = json.NewEncoder(zw).Encode(v)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("report %s: %w", path, err)
	}
	return nil
}

// anomaliesShown caps the anomalies the text lists in full (all are in
// the JSON).
const anomaliesShown = 30

// WriteText writes the human-readable report.
func (r *Report) WriteText(w io.Writer) {
	s := r.Settings
	fmt.Fprintf(w, "chaos run: %d nodes, %s, nemeses %s, seed %d, riffle %s\n", s.Nodes, s.Duration, strings.Join(s.Nemeses, ","), s.Seed, s.Riffle)
	fmt.Fprintf(w, "topic %s: %d partitions, replication factor %d, min.insync.replicas %d, acks=%s, idempotent %v, %d records/s\n",
		s.Topic, s.Partitions, s.ReplicationFactor, s.MinInsyncReplicas, s.Acks, s.Idempotent, s.RatePerSec)
	if s.TxnProducers > 0 {
		fmt.Fprintf(w, "topic %s: %d transactional producers, %d records per transaction, one in %d aborted on purpose; a read_committed reader\n",
			s.TxnTopic, s.TxnProducers, txnRecords, txnAbortEvery)
	}
	if len(s.Unsafe) > 0 {
		fmt.Fprintf(w, "UNSAFE settings (Kafka documents these can lose acknowledged records): %s\n", strings.Join(s.Unsafe, ", "))
	}
	for _, n := range r.NotInjected {
		fmt.Fprintf(w, "not injected: %s\n", n)
	}
	fmt.Fprintf(w, "\nfaults (%d):\n", len(r.Faults))
	for _, f := range r.Faults {
		rec := "never"
		if f.RecoveryS >= 0 {
			rec = fmt.Sprintf("%.1fs", f.RecoveryS)
		}
		fmt.Fprintf(w, "  %6.1fs-%6.1fs  %-9s %-17s nodes %v %s  recovered after %s", f.Start, f.End, f.Kind, f.Target, f.Nodes, f.Detail, rec)
		if f.Error != "" {
			fmt.Fprintf(w, "  (%s)", f.Error)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nrecords acknowledged %d, reads %d, committed offsets observed %d, final log %d records\n",
		r.Acknowledged, r.Reads, r.CommitsObserved, r.FinalRecords)
	if s.TxnProducers > 0 {
		fmt.Fprintf(w, "transactions: %d committed, %d aborted, %d unknown outcome; read_committed reads %d\n",
			r.Transactions[check.Committed], r.Transactions[check.Aborted], r.Transactions[check.Unknown], r.TxnReads)
	}
	worst := "never (a fault did not recover within the run)"
	if r.WorstRecoveryS >= 0 {
		worst = fmt.Sprintf("%.1fs", r.WorstRecoveryS)
	}
	fmt.Fprintf(w, "worst recovery: %s\n", worst)
	codes := make([]string, 0, len(r.ProduceErrors))
	for c := range r.ProduceErrors {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	fmt.Fprintf(w, "produce errors:")
	if len(codes) == 0 {
		fmt.Fprintf(w, " none")
	}
	for _, c := range codes {
		fmt.Fprintf(w, " %s %d;", c, r.ProduceErrors[c])
	}
	fmt.Fprintf(w, "\nunavailability (a partition acknowledged nothing for more than %v): %d windows\n", unavailableGap, len(r.Unavailability))
	for _, u := range r.Unavailability {
		fmt.Fprintf(w, "  partition %d: %.1fs-%.1fs (%.1fs)\n", u.Partition, u.From, u.To, u.To-u.From)
	}
	fmt.Fprintf(w, "replicas: %d segment files compared\n", len(r.Replicas))
	for _, e := range r.Errors {
		fmt.Fprintf(w, "run error: %s\n", e)
	}
	if len(r.Anomalies) == 0 {
		fmt.Fprintf(w, "\nchecker: no anomalies\n")
		return
	}
	kinds := map[string]int{}
	for _, a := range r.Anomalies {
		kinds[a.Kind]++
	}
	fmt.Fprintf(w, "\nchecker: %d ANOMALIES %v\n", len(r.Anomalies), kinds)
	for i, a := range r.Anomalies {
		if i == anomaliesShown {
			fmt.Fprintf(w, "  ... %d more in chaos.json\n", len(r.Anomalies)-i)
			break
		}
		fmt.Fprintf(w, "  %s partition %d offset %d: %s\n", a.Kind, a.Partition, a.Offset, a.Detail)
		for _, rec := range a.Records {
			fmt.Fprintf(w, "      %s\n", rec)
		}
	}
}

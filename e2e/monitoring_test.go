package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/internal/brokertest"
)

// The operator's monitoring kit, beside the code it watches.
const (
	dashboardPath = "../monitoring/riffle-dashboard.json"
	alertsPath    = "../monitoring/alerts.yml"
	alertTestPath = "../monitoring/alerts_test.yml"
)

// notOnOneBroker are series the dashboard and alerts query that a live
// single broker does not export, each with the reason.
var notOnOneBroker = map[string]string{
	// Per followed partition: a single broker follows none.
	"riffle_partition_follower_lag_offsets": "replication",
	// Made by Prometheus for every scrape target, not by the broker.
	"up": "Prometheus",
}

// TestDashboardQueriesLiveMetrics parses the Grafana dashboard and the
// alert rules, and checks that every metric they query is in a live
// broker's /metrics once it has seen produces, a flushed append, an error
// and a group commit; and that the dashboard covers what operators look at.
func TestDashboardQueriesLiveMetrics(t *testing.T) {
	b := brokertest.Start(t, groupBrokerArgs...)
	monitoredTraffic(t, b, "dash")
	exported := map[string]bool{}
	for series := range scrape(t, b.AdminAddr()) {
		name, _, _ := strings.Cut(series, "{")
		exported[name] = true
	}
	dashboard := metricNames(t, dashboardQueries(t))
	alerts := metricNames(t, alertQueries(t))
	for _, set := range []map[string]bool{dashboard, alerts} {
		for name := range set {
			if _, ok := notOnOneBroker[name]; !ok && !exported[name] {
				t.Errorf("metric %s is queried but not in the broker's /metrics", name)
			}
		}
	}
	for _, name := range []string{
		"riffle_partition_bytes_in_total",     // throughput
		"riffle_kafka_request_seconds_bucket", // request latency percentiles
		"riffle_group_lag",                    // consumer lag
		"riffle_under_replicated_partitions",  // replication
		"riffle_offline_partitions",           // replication
		"riffle_storage_disk_free_bytes",      // disk usage
		"riffle_storage_fsync_seconds_bucket", // fsync latency
	} {
		if !dashboard[name] {
			t.Errorf("the dashboard does not show %s", name)
		}
	}
	for _, name := range []string{"up", "riffle_group_lag", "riffle_under_replicated_partitions",
		"riffle_offline_partitions", "riffle_storage_disk_free_bytes"} {
		if !alerts[name] {
			t.Errorf("no alert watches %s", name)
		}
	}
}

// TestREADMEMetricTable checks the README's metric table against a live
// broker's /metrics both ways: every riffle_ metric in the table is
// exported (a histogram as _bucket, _sum and _count), and every exported
// riffle_ metric is in the table.
func TestREADMEMetricTable(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{} // name → is a histogram
	for _, line := range strings.Split(string(readme), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`riffle_") {
			continue
		}
		for _, name := range strings.Split(cells[1], ",") {
			documented[strings.Trim(strings.TrimSpace(name), "`")] = strings.HasPrefix(strings.TrimSpace(cells[3]), "histogram:")
		}
	}
	if len(documented) < 20 {
		t.Fatalf("README: only %d metrics in the table", len(documented))
	}
	b := brokertest.Start(t, groupBrokerArgs...)
	monitoredTraffic(t, b, "readme")
	exported := map[string]bool{}
	for series := range scrape(t, b.AdminAddr()) {
		if name, _, _ := strings.Cut(series, "{"); strings.HasPrefix(name, "riffle_") {
			exported[name] = true
		}
	}
	for name, histogram := range documented {
		names := []string{name}
		if histogram {
			names = []string{name + "_bucket", name + "_sum", name + "_count"}
		}
		for _, n := range names {
			if _, ok := notOnOneBroker[n]; !ok && !exported[n] {
				t.Errorf("README documents %s; the broker does not export it", n)
			}
			delete(exported, n)
		}
	}
	for name := range exported {
		t.Errorf("the broker exports %s; the README's table does not document it", name)
	}
}

// TestAlertRulesPromtool validates the alert rules with promtool and runs
// their unit tests (each alert fires on the series it is for and stays
// quiet on healthy ones).
func TestAlertRulesPromtool(t *testing.T) {
	promtool := lookPrometheusTool(t, "promtool")
	for _, args := range [][]string{{"check", "rules", alertsPath}, {"test", "rules", alertTestPath}} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		out, err := exec.CommandContext(ctx, promtool, args...).CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestPrometheusReadsBrokerHistograms runs a real Prometheus scraping a
// live broker, with the alert rules loaded, and asks its HTTP API for the
// p99 produce latency and a group's lag: both are numbers. Every dashboard
// and alert query is then accepted by that Prometheus.
func TestPrometheusReadsBrokerHistograms(t *testing.T) {
	bin := lookPrometheusTool(t, "prometheus")
	b := brokertest.Start(t, groupBrokerArgs...)
	api := startPrometheus(t, bin, b.AdminAddr())
	waitPromValue(t, api, `up{job="riffle"}`, nil)
	const topic, group = "prom", "prom-group"
	cl := monitoredTraffic(t, b, topic)

	// rate() needs two scrapes that saw produces: keep producing until
	// the quantile is a number.
	produce := func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("more")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	p99 := waitPromValue(t, api, `histogram_quantile(0.99, sum by (le) (rate(riffle_kafka_request_seconds_bucket{api="Produce"}[1m])))`, produce)
	if p99 <= 0 || p99 > 60 {
		t.Errorf("p99 produce latency %v s", p99)
	}
	lag := waitPromValue(t, api, `riffle_group_lag{group="`+group+`",topic="`+topic+`"}`, nil)
	if lag < 1 {
		t.Errorf("group lag %v, want at least 1 (committed offset 1 of more)", lag)
	}

	var rules struct {
		Groups []struct {
			Rules []struct{ Name, Health, LastError string }
		}
	}
	promGet(t, api, "/api/v1/rules", nil, &rules)
	loaded := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			loaded++
			if r.Health == "err" {
				t.Errorf("rule %s: %s", r.Name, r.LastError)
			}
		}
	}
	if loaded == 0 {
		t.Error("Prometheus loaded no alert rules")
	}
	for _, q := range append(dashboardQueries(t), alertQueries(t)...) {
		q = strings.NewReplacer("$__rate_interval", "1m", "$instance", ".*").Replace(q)
		promGet(t, api, "/api/v1/query", url.Values{"query": {q}}, nil)
	}
}

// monitoredTraffic creates topic with flush.messages=1 (fsync samples),
// produces to it, draws an error code and commits offset 1 for the group
// <topic>-group, so that every series a dashboard reads exists. It
// returns the producing client.
func monitoredTraffic(t *testing.T, b *brokertest.Broker, topic string) *kgo.Client {
	t.Helper()
	cl := newClient(t, b.Addr())
	createTopicWithConfigs(t, cl, topic, map[string]string{"flush.messages": "1"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 20 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produceErrorCode(t, b.Addr(), produceRequest("no-such-topic", nil))
	commitOffset(t, cl, topic+"-group", topic, 1)
	return cl
}

// dashboardQueries are the PromQL expressions of every panel (rows'
// nested panels included) and every templating variable.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string
		Targets []struct{ Expr string }
		Panels  []json.RawMessage
	}
	var dash struct {
		Panels     []json.RawMessage
		Templating struct {
			List []struct {
				Type  string
				Query json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	var queries []string
	var walk func([]json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("%s: panel: %v", dashboardPath, err)
			}
			for _, tg := range p.Targets {
				if tg.Expr == "" {
					t.Errorf("%s: panel %q has a target without a query", dashboardPath, p.Title)
				}
				queries = append(queries, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("%s: templating query: %v", dashboardPath, err)
		}
		// label_values(metric, label) is Grafana's, not PromQL: keep the
		// metric as a query of its own.
		metric, _, _ := strings.Cut(strings.TrimPrefix(q.Query, "label_values("), ",")
		queries = append(queries, metric)
	}
	if len(queries) < 10 {
		t.Fatalf("%s: only %d queries", dashboardPath, len(queries))
	}
	return queries
}

// alertQueries are the expressions of the alert rules: each "expr:"
// value, inline or a "|" block (the forms alerts.yml uses; go.mod has no
// YAML parser, and promtool checks the file's YAML itself).
func alertQueries(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	var queries []string
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		key := strings.TrimLeft(lines[i], " ")
		expr, ok := strings.CutPrefix(key, "expr:")
		if !ok {
			continue
		}
		if expr = strings.TrimSpace(expr); expr != "|" {
			queries = append(queries, expr)
			continue
		}
		indent := len(lines[i]) - len(key)
		var block []string
		for i+1 < len(lines) && len(lines[i+1])-len(strings.TrimLeft(lines[i+1], " ")) > indent {
			i++
			block = append(block, strings.TrimSpace(lines[i]))
		}
		queries = append(queries, strings.Join(block, " "))
	}
	if len(queries) < 5 {
		t.Fatalf("%s: %d rules", alertsPath, len(queries))
	}
	return queries
}

var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
)

// metricNames are the metric names in PromQL expressions: identifiers
// left once strings, label matchers, ranges and grouping labels are gone,
// other than functions (followed by a parenthesis) and keywords.
func metricNames(t *testing.T, queries []string) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, q := range queries {
		s := promStrings.ReplaceAllString(q, `""`)
		s = promMatchers.ReplaceAllString(s, " ")
		s = promGrouping.ReplaceAllString(s, " ")
		for _, m := range promIdent.FindAllStringSubmatch(s, -1) {
			if id, call := m[1], m[2] != ""; !call && !promKeywords[id] {
				names[id] = true
			}
		}
	}
	if len(names) == 0 {
		t.Fatal("no metric names in the queries")
	}
	return names
}

// lookPrometheusTool finds a binary of Debian's prometheus package, or
// skips the test saying how to get it.
func lookPrometheusTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed: it comes with Debian's prometheus package (scripts/install-test-deps.sh installs it)", name)
	}
	return path
}

// startPrometheus runs Prometheus scraping the broker's admin listener
// every second as job "riffle", with the alert rules loaded, on a free
// port and a temporary TSDB; it returns its base URL once it is ready.
func startPrometheus(t *testing.T, bin, adminAddr string) string {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Abs(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: riffle
    static_configs:
      - targets: [%q]
`, rules, adminAddr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	// A free port, closed again for Prometheus to take: it has no port 0.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logPath := filepath.Join(dir, "prometheus.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("prometheus output:\n%s", out)
		}
	})
	base := "http://" + addr
	waitFor(t, time.Minute, "prometheus ready", func() bool {
		select {
		case err := <-exited:
			out, _ := os.ReadFile(logPath)
			t.Fatalf("prometheus exited: %v\n%s", err, out)
		default:
		}
		resp, err := (&http.Client{Timeout: time.Second}).Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base
}

// promGet GETs a Prometheus API path and fails unless it answers status
// "success"; the data field is decoded into data when not nil.
func promGet(t *testing.T, base, path string, params url.Values, data any) {
	t.Helper()
	u := base + path
	if params != nil {
		u += "?" + params.Encode()
	}
	var resp struct {
		Status, Error string
		Data          json.RawMessage
	}
	body := httpGet(t, u, 0) // its errors come with a 4xx status
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, body)
	}
	if resp.Status != "success" {
		t.Fatalf("GET %s: %s", u, resp.Error)
	}
	if data != nil {
		if err := json.Unmarshal(resp.Data, data); err != nil {
			t.Fatalf("GET %s: data: %v", u, err)
		}
	}
}

// waitPromValue queries Prometheus until the expression has one sample
// whose value is a number (not NaN), calling between before each retry
// when not nil, and returns the value.
func waitPromValue(t *testing.T, base, query string, between func()) float64 {
	t.Helper()
	var value float64
	var last []string
	waitFor(t, 90*time.Second, "a number from "+query, func() bool {
		var data struct {
			Result []struct {
				Value [2]json.RawMessage
			}
		}
		promGet(t, base, "/api/v1/query", url.Values{"query": {query}}, &data)
		last = last[:0]
		for _, r := range data.Result {
			var s string
			if err := json.Unmarshal(r.Value[1], &s); err != nil {
				t.Fatalf("%s: value %s: %v", query, r.Value[1], err)
			}
			last = append(last, s)
		}
		if len(last) == 1 {
			if v, err := strconv.ParseFloat(last[0], 64); err == nil && !math.IsNaN(v) {
				value = v
				return true
			}
		}
		if between != nil {
			between()
		}
		return false
	})
	return value
}

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/internal/brokertest"
)

// cliRun is one finished `riffle <command>` process.
type cliRun struct {
	stdout, stderr string
	code           int
}

// riffleCLI runs the riffle binary with args against addr (through
// RIFFLE_BROKERS), feeding it stdin.
func riffleCLI(t *testing.T, addr, stdin string, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, brokertest.Binary(t), args...)
	cmd.Env = append(os.Environ(), "RIFFLE_BROKERS="+addr)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("riffle %s: %v", strings.Join(args, " "), err)
	}
	return cliRun{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

// ok runs a command that must succeed and returns its stdout.
func ok(t *testing.T, addr, stdin string, args ...string) string {
	t.Helper()
	r := riffleCLI(t, addr, stdin, args...)
	if r.code != 0 {
		t.Fatalf("riffle %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs a command that must exit with code and name the problem
// (every want) on stderr.
func fails(t *testing.T, addr string, code int, wants []string, args ...string) {
	t.Helper()
	r := riffleCLI(t, addr, "", args...)
	if r.code != code {
		t.Errorf("riffle %s: exit %d, want %d\nstderr:\n%s", strings.Join(args, " "), r.code, code, r.stderr)
	}
	for _, want := range wants {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("riffle %s: stderr lacks %q:\n%s", strings.Join(args, " "), want, r.stderr)
		}
	}
}

func decodeJSON[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return v
}

func TestCLITopics(t *testing.T) {
	b := brokertest.Start(t)
	addr := b.Addr()

	out := ok(t, addr, "", "topic", "create", "orders", "audit", "-p", "3", "-c", "retention.ms=3600000")
	for _, want := range []string{"TOPIC", "orders  3", "audit   3", "created"} {
		if !strings.Contains(out, want) {
			t.Errorf("topic create output lacks %q:\n%s", want, out)
		}
	}
	fails(t, addr, 1, []string{"orders: TOPIC_ALREADY_EXISTS"}, "topic", "create", "orders")

	type summary struct {
		Name              string `json:"name"`
		ID                string `json:"id"`
		Partitions        int    `json:"partitions"`
		ReplicationFactor int    `json:"replication_factor"`
	}
	list := decodeJSON[[]summary](t, ok(t, addr, "", "topic", "list", "--json"))
	if len(list) != 2 || list[0].Name != "audit" || list[1].Name != "orders" || list[1].Partitions != 3 || list[1].ReplicationFactor != 1 || len(list[1].ID) != 22 {
		t.Errorf("topic list --json: got %+v", list)
	}
	if out := ok(t, addr, "", "topic", "list", "-b", addr); !strings.Contains(out, "NAME") || !strings.Contains(out, "orders") {
		t.Errorf("topic list: got\n%s", out)
	}

	ok(t, addr, "a\nb\nc\n", "produce", "orders", "-p", "2")
	type description struct {
		summary
		Configs []struct {
			Key    string `json:"key"`
			Value  string `json:"value"`
			Source string `json:"source"`
		} `json:"configs"`
		Partitions []struct {
			Partition      int32 `json:"partition"`
			Leader         int32 `json:"leader"`
			LogStartOffset int64 `json:"log_start_offset"`
			HighWatermark  int64 `json:"high_watermark"`
		} `json:"partition_details"`
	}
	descs := decodeJSON[[]description](t, ok(t, addr, "", "topic", "describe", "orders", "--json"))
	if len(descs) != 1 || len(descs[0].Partitions) != 3 || descs[0].Partitions[2].HighWatermark != 3 || descs[0].Partitions[0].HighWatermark != 0 {
		t.Fatalf("topic describe --json: got %+v", descs)
	}
	if c := descs[0].Configs; len(c) != 1 || c[0].Key != "retention.ms" || c[0].Value != "3600000" || c[0].Source != "DYNAMIC_TOPIC_CONFIG" {
		t.Errorf("topic describe --json: the topic's own configs: got %+v", c)
	}
	out = ok(t, addr, "", "topic", "describe", "orders", "--all-configs")
	for _, want := range []string{"PARTITIONS          3", "segment.bytes", "HIGH-WATERMARK"} {
		if !strings.Contains(out, want) {
			t.Errorf("topic describe output lacks %q:\n%s", want, out)
		}
	}

	testAlterConfig(t, addr)

	ok(t, addr, "", "topic", "delete", "audit")
	fails(t, addr, 1, []string{"audit: UNKNOWN_TOPIC_OR_PARTITION"}, "topic", "describe", "audit")
	fails(t, addr, 1, []string{"audit: UNKNOWN_TOPIC_OR_PARTITION"}, "topic", "delete", "audit")
	if list := decodeJSON[[]summary](t, ok(t, addr, "", "topic", "list", "--json")); len(list) != 1 || list[0].Name != "orders" {
		t.Errorf("after delete: topic list --json: got %+v", list)
	}
}

// testAlterConfig sets and deletes configs of "orders" and reads them back,
// and shows that a changed max.message.bytes applies to the topic's
// partitions at once.
func testAlterConfig(t *testing.T, addr string) {
	t.Helper()
	ok(t, addr, "", "topic", "alter-config", "orders", "--set", "retention.ms=7200000", "--set", "segment.ms=600000")
	ok(t, addr, "", "topic", "alter-config", "orders", "--delete", "segment.ms")
	out := ok(t, addr, "", "topic", "describe", "orders")
	if !strings.Contains(out, "retention.ms  7200000") || strings.Contains(out, "segment.ms") {
		t.Errorf("after alter-config: want retention.ms 7200000 and no segment.ms override:\n%s", out)
	}
	fails(t, addr, 1, []string{"orders: INVALID_CONFIG", "retention.ms"}, "topic", "alter-config", "orders", "--set", "retention.ms=soon")

	// Hex digits of random bytes: a value compression cannot shrink much.
	value := make([]byte, 2000)
	rand.NewChaCha8([32]byte{}).Read(value)
	large := hex.EncodeToString(value)
	ok(t, addr, "", "topic", "alter-config", "orders", "--set", "max.message.bytes=1024")
	fails(t, addr, 1, []string{"MESSAGE_TOO_LARGE"}, "produce", "orders", "-p", "1", large)
	ok(t, addr, "", "topic", "alter-config", "orders", "--set", "max.message.bytes=65536")
	ok(t, addr, "", "produce", "orders", "-p", "1", large)
}

type consumed struct {
	Partition int32   `json:"partition"`
	Offset    int64   `json:"offset"`
	Key       *string `json:"key"`
	Value     string  `json:"value"`
	Headers   []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"headers"`
}

// decodeLines reads one JSON object per line.
func decodeLines[T any](t *testing.T, out string) []T {
	t.Helper()
	var vs []T
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		vs = append(vs, decodeJSON[T](t, line))
	}
	return vs
}

func TestCLIProduceConsume(t *testing.T) {
	b := brokertest.Start(t)
	addr := b.Addr()
	ok(t, addr, "", "topic", "create", "events", "-p", "2")

	out := ok(t, addr, "k1:v1\nk2:v2\nno-delimiter\n", "produce", "events", "-K", ":", "-p", "1", "-H", "source=test")
	if want := "produced to events[1] at offset 2\n"; !strings.HasSuffix(out, want) {
		t.Errorf("produce output: want it to end with %q, got:\n%s", want, out)
	}
	produced := decodeLines[struct {
		Partition int32 `json:"partition"`
		Offset    int64 `json:"offset"`
	}](t, ok(t, addr, "", "produce", "events", "--json", "-p", "0", "first", "second"))
	if len(produced) != 2 || produced[1].Partition != 0 || produced[1].Offset != 1 {
		t.Errorf("produce --json: got %+v", produced)
	}

	records := decodeLines[consumed](t, ok(t, addr, "", "consume", "events", "-e", "--json", "-p", "1"))
	if len(records) != 3 {
		t.Fatalf("consume -e -p 1: got %d records, want 3: %+v", len(records), records)
	}
	if r := records[0]; *r.Key != "k1" || r.Value != "v1" || r.Offset != 0 || len(r.Headers) != 1 || r.Headers[0].Value != "test" {
		t.Errorf("first record: got %+v", r)
	}
	if r := records[2]; r.Key != nil || r.Value != "no-delimiter" {
		t.Errorf("a line without the delimiter is a value without a key: got %+v", r)
	}

	if out := ok(t, addr, "", "consume", "events", "-e", "-p", "0"); out != "first\nsecond\n" {
		t.Errorf("consume -e -p 0: got %q", out)
	}
	if out := ok(t, addr, "", "consume", "events", "-e", "-p", "1", "-o", "1", "-K", "="); out != "k2=v2\n=no-delimiter\n" {
		t.Errorf("consume -o 1 -K =: got %q", out)
	}
	if n := strings.Count(ok(t, addr, "", "consume", "events", "-n", "4"), "\n"); n != 4 {
		t.Errorf("consume -n 4: got %d lines", n)
	}
	if out := ok(t, addr, "", "consume", "events", "-e", "-o", "end"); out != "" {
		t.Errorf("consume -e -o end: want nothing, got %q", out)
	}
	// -b before the command word wins over $RIFFLE_BROKERS (here nothing).
	if r := riffleCLI(t, "127.0.0.1:1", "", "-b", addr, "consume", "events", "-e", "-p", "0"); r.code != 0 || r.stdout != "first\nsecond\n" {
		t.Errorf("riffle -b ADDR consume: exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	fails(t, addr, 1, []string{"topic nothere: UNKNOWN_TOPIC_OR_PARTITION"}, "consume", "nothere", "-e")
	fails(t, addr, 1, []string{"topic events has no partition 7"}, "consume", "events", "-e", "-p", "7")
}

// TestCLIConsumeBinaryAndCount consumes records whose keys and values are
// not text: escaped by default (one line per record, no raw control
// bytes), exact with --base64; and consume says how many records it got
// and why it stopped.
func TestCLIConsumeBinaryAndCount(t *testing.T) {
	b := brokertest.Start(t)
	addr := b.Addr()
	ok(t, addr, "", "topic", "create", "bin", "-p", "1")
	values := [][]byte{[]byte("two\nlines"), {0x00, 0xff, 0x1b, '[', '3', '1', 'm'}, []byte("tab\tand é")}
	cl := newClient(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, v := range values {
		r := &kgo.Record{Topic: "bin", Key: []byte{0xfe, 'k'}, Value: v, Headers: []kgo.RecordHeader{{Key: "h", Value: []byte{0x01}}}}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	r := riffleCLI(t, addr, "", "consume", "bin", "-e", "-K", "=")
	if want := "\\xfek=two\\nlines\n\\xfek=\\x00\\xff\\x1b[31m\n\\xfek=tab\tand é\n"; r.code != 0 || r.stdout != want {
		t.Errorf("consume -e -K =: exit %d, stdout %q, want %q", r.code, r.stdout, want)
	}
	if r.stderr != "consumed 3 records: reached the end of bin\n" {
		t.Errorf("consume -e: stderr %q", r.stderr)
	}

	r = riffleCLI(t, addr, "", "consume", "bin", "-e", "--base64")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 0 || len(lines) != len(values) {
		t.Fatalf("consume --base64: exit %d, stdout %q", r.code, r.stdout)
	}
	for i, line := range lines {
		if got, err := base64.StdEncoding.DecodeString(line); err != nil || string(got) != string(values[i]) {
			t.Errorf("consume --base64: line %d %q decodes to %q, %v; want %q", i, line, got, err, values[i])
		}
	}
	for _, rec := range decodeLines[consumed](t, ok(t, addr, "", "consume", "bin", "-e", "--json", "--base64")) {
		if *rec.Key != "/ms=" || rec.Value != base64.StdEncoding.EncodeToString(values[rec.Offset]) || rec.Headers[0].Value != "AQ==" {
			t.Errorf("consume --json --base64: %+v", rec)
		}
	}

	// -n beyond the end with -e: returns at the end and says so.
	if r := riffleCLI(t, addr, "", "consume", "bin", "-e", "-n", "10"); r.code != 0 || strings.Count(r.stdout, "\n") != 3 ||
		r.stderr != "consumed 3 records: reached the end of bin before -n 10\n" {
		t.Errorf("consume -e -n 10: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := riffleCLI(t, addr, "", "consume", "bin", "-n", "2"); r.code != 0 || r.stderr != "consumed 2 records\n" {
		t.Errorf("consume -n 2: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestCLIGroups(t *testing.T) {
	b := brokertest.Start(t)
	addr := b.Addr()
	ok(t, addr, "", "topic", "create", "jobs", "-p", "2")
	ok(t, addr, strings.Repeat("job\n", 5), "produce", "jobs", "-p", "0")
	ok(t, addr, strings.Repeat("job\n", 3), "produce", "jobs", "-p", "1")

	// A group member consumes 3 records and commits what it printed.
	if n := strings.Count(ok(t, addr, "", "consume", "jobs", "-g", "workers", "-n", "3"), "\n"); n != 3 {
		t.Fatalf("consume -g -n 3: got %d lines", n)
	}
	out := ok(t, addr, "", "group", "list")
	if !strings.Contains(out, "workers") || !strings.Contains(out, "Empty") {
		t.Errorf("group list: got\n%s", out)
	}

	type lag struct {
		Topic         string `json:"topic"`
		Partition     int32  `json:"partition"`
		CurrentOffset int64  `json:"current_offset"`
		LogEndOffset  int64  `json:"log_end_offset"`
		Lag           int64  `json:"lag"`
	}
	type group struct {
		Group    string `json:"group"`
		State    string `json:"state"`
		TotalLag int64  `json:"total_lag"`
		Lag      []lag  `json:"partitions"`
	}
	describe := func() group {
		t.Helper()
		gs := decodeJSON[[]group](t, ok(t, addr, "", "group", "describe", "workers", "--json"))
		if len(gs) != 1 {
			t.Fatalf("group describe --json: got %+v", gs)
		}
		return gs[0]
	}
	g := describe()
	if g.State != "Empty" || g.TotalLag != 8-3 {
		t.Errorf("group describe: want Empty with lag 5, got %+v", g)
	}

	committed := func() map[int32]int64 {
		m := map[int32]int64{}
		for _, l := range describe().Lag {
			m[l.Partition] = l.CurrentOffset
		}
		return m
	}
	before := committed()
	out = riffleCLI(t, addr, "", "group", "reset-offsets", "workers", "--topic", "jobs", "--to-earliest").stderr
	if !strings.Contains(out, "dry run") {
		t.Errorf("reset-offsets without --execute: want a dry-run note, got %q", out)
	}
	if after := committed(); after[0] != before[0] || after[1] != before[1] {
		t.Errorf("a dry run changed the commits: %v, then %v", before, after)
	}

	ok(t, addr, "", "group", "reset-offsets", "workers", "--topic", "jobs", "--to-latest", "--execute")
	if c := committed(); c[0] != 5 || c[1] != 3 {
		t.Errorf("--to-latest: got %v, want 5 and 3", c)
	}
	ok(t, addr, "", "group", "reset-offsets", "workers", "--topic", "jobs:0", "--shift-by", "-2", "--execute")
	if c := committed(); c[0] != 3 || c[1] != 3 {
		t.Errorf("--shift-by -2 on partition 0: got %v, want 3 and 3", c)
	}
	ok(t, addr, "", "group", "reset-offsets", "workers", "--all-topics", "--to-offset", "1", "--execute")
	if c := committed(); c[0] != 1 || c[1] != 1 {
		t.Errorf("--to-offset 1: got %v, want 1 and 1", c)
	}
	ok(t, addr, "", "group", "reset-offsets", "workers", "--topic", "jobs", "--to-datetime", "2000-01-01T00:00:00Z", "--execute")
	if c := committed(); c[0] != 0 || c[1] != 0 {
		t.Errorf("--to-datetime 2000: got %v, want 0 and 0", c)
	}

	// A live member would overwrite the commit: refused.
	member := newClient(t, addr, kgo.ConsumerGroup("workers"), kgo.ConsumeTopics("jobs"))
	waitFor(t, 30*time.Second, "the member to join", func() bool {
		return describe().State == "Stable"
	})
	fails(t, addr, 1, []string{"stop its consumers first"}, "group", "reset-offsets", "workers", "--topic", "jobs", "--to-earliest")
	member.Close()
}

// TestCLIGroupConsumeToEnd consumes as a group member with -e: it stops
// at the end of the assigned partitions, from the group's commits, and a
// partition with nothing to read does not hold it up.
func TestCLIGroupConsumeToEnd(t *testing.T) {
	b := brokertest.Start(t, groupBrokerArgs...)
	addr := b.Addr()
	ok(t, addr, "", "topic", "create", "tasks", "-p", "3") // partition 2 stays empty
	ok(t, addr, strings.Repeat("task\n", 5), "produce", "tasks", "-p", "0")
	ok(t, addr, strings.Repeat("task\n", 3), "produce", "tasks", "-p", "1")

	for _, c := range []struct {
		produce string // to partition 1 first
		records int
		stderr  string
		args    []string
	}{
		{"", 8, "consumed 8 records: reached the end of tasks before -n 100\n", []string{"-n", "100"}},
		{"", 0, "consumed 0 records: reached the end of tasks\n", nil},
		{"more\nmore\n", 2, "consumed 2 records: reached the end of tasks\n", nil},
	} {
		if c.produce != "" {
			ok(t, addr, c.produce, "produce", "tasks", "-p", "1")
		}
		args := append([]string{"consume", "tasks", "-g", "crew", "-e"}, c.args...)
		r := riffleCLI(t, addr, "", args...)
		if r.code != 0 || strings.Count(r.stdout, "\n") != c.records || r.stderr != c.stderr {
			t.Errorf("riffle %s: exit %d, %d records, stderr %q; want %d records, stderr %q",
				strings.Join(args, " "), r.code, strings.Count(r.stdout, "\n"), r.stderr, c.records, c.stderr)
		}
	}
	if out := ok(t, addr, "", "group", "describe", "crew"); !strings.Contains(out, "tasks") {
		t.Errorf("group describe: got\n%s", out)
	}
	type group struct {
		TotalLag int64 `json:"total_lag"`
	}
	if gs := decodeJSON[[]group](t, ok(t, addr, "", "group", "describe", "crew", "--json")); len(gs) != 1 || gs[0].TotalLag != 0 {
		t.Errorf("group describe: want lag 0 after consuming to the end, got %+v", gs)
	}
}

// TestCLIBadArguments checks each mistake gets a message naming it and
// exit code 2, and a broker's refusal exit code 1.
func TestCLIBadArguments(t *testing.T) {
	const noBroker = "127.0.0.1:1" // nothing listens: usage errors come first
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"topic"}, "missing subcommand: one of alter-config, create, delete, delete-records, describe, elect-leaders, list, reassign"},
		{[]string{"topic", "frob"}, `unknown subcommand "frob"`},
		{[]string{"topic", "create"}, "missing topic name"},
		{[]string{"topic", "create", "t", "-p", "0"}, "--partitions 0: want a positive count or -1"},
		{[]string{"topic", "create", "t", "-c", "retention.ms"}, `want key=value, got "retention.ms"`},
		{[]string{"topic", "list", "extra"}, `unexpected argument "extra"`},
		{[]string{"topic", "list", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"topic", "list", "--timeout", "0s"}, "--timeout 0s: must be positive"},
		{[]string{"topic", "alter-config", "t"}, "nothing to change"},
		{[]string{"topic", "elect-leaders", "--partition", "0"}, "--partition needs --topic"},
		{[]string{"topic", "elect-leaders", "--topic", "t", "--partition", "x"}, `want a partition number, got "x"`},
		{[]string{"topic", "delete-records", "--partition", "0", "--offset", "5"}, "missing --topic"},
		{[]string{"topic", "delete-records", "--topic", "t", "--partition", "0", "--offset", "-2"}, "--offset -2: want an offset, or -1"},
		{[]string{"topic", "reassign"}, "want exactly one of --replicas, --cancel or --list"},
		{[]string{"topic", "reassign", "--list", "--cancel"}, "want exactly one of --replicas, --cancel or --list"},
		{[]string{"topic", "reassign", "--list", "--partition", "0"}, "--list takes --topic, not --partition"},
		{[]string{"topic", "reassign", "--replicas", "1,2"}, "missing --topic"},
		{[]string{"topic", "reassign", "--topic", "t", "--cancel"}, "missing --partition"},
		{[]string{"topic", "reassign", "--topic", "t", "--partition", "0", "--replicas", "2,x"}, `want broker ids like 2,3,4, got "2,x"`},
		{[]string{"topic", "reassign", "--topic", "t", "--partition", "-1", "--replicas", "2"}, "--partition -1: want a partition number"},
		{[]string{"group", "reset-offsets", "g", "--topic", "t"}, "want exactly one of --to-earliest"},
		{[]string{"group", "reset-offsets", "g", "--to-earliest"}, "want --topic (repeatable) or --all-topics"},
		{[]string{"group", "reset-offsets", "g", "--to-earliest", "--topic", "t:x"}, `partition "x" is not a partition number`},
		{[]string{"group", "reset-offsets", "g", "--to-datetime", "yesterday", "--topic", "t"}, `invalid value "yesterday" for flag -to-datetime`},
		{[]string{"produce"}, "missing topic name"},
		{[]string{"produce", "t", "-k", "a", "-K", ":"}, "-k and -K exclude each other"},
		{[]string{"consume", "t", "-o", "soon"}, `-o "soon": want start, end or an offset`},
		{[]string{"consume", "t", "-g", "g", "-p", "0"}, "-g decides partitions by group assignment: -p does not apply"},
	}
	for _, c := range cases {
		fails(t, noBroker, 2, []string{"riffle ", c.want, "--help' for usage"}, c.args...)
	}
	fails(t, noBroker, 1, []string{"riffle topic list: cannot reach brokers 127.0.0.1:1", "connection refused"},
		"topic", "list", "--timeout", "5s")
	if r := riffleCLI(t, noBroker, "", "topic", "create", "--help"); r.code != 0 || !strings.Contains(r.stderr, "Usage: riffle topic create [flags] TOPIC...") {
		t.Errorf("--help: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

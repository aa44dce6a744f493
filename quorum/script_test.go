package quorum

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata scripts with the actual output")

// A script is a sequence of cases:
//
//	command arg=value flag ...
//	----
//	expected output lines
//
// separated by blank lines; lines starting with # are comments. Run with
// -rewrite to replace the expected output with the actual one.
type scriptCase struct {
	comments []string
	command  string
	want     string
}

func parseScript(t *testing.T, path string) []scriptCase {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []scriptCase
	var cur scriptCase
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		switch {
		case strings.HasPrefix(line, "#"):
			cur.comments = append(cur.comments, line)
		case strings.TrimSpace(line) == "":
		default:
			cur.command = line
			if i+1 >= len(lines) || lines[i+1] != "----" {
				t.Fatalf("%s:%d: command without ----", path, i+1)
			}
			var want []string
			for i += 2; i < len(lines) && lines[i] != ""; i++ {
				want = append(want, lines[i])
			}
			cur.want = strings.Join(want, "\n")
			cases = append(cases, cur)
			cur = scriptCase{}
		}
	}
	return cases
}

func writeScript(t *testing.T, path string, cases []scriptCase) {
	var b strings.Builder
	for i, c := range cases {
		if i > 0 {
			b.WriteString("\n")
		}
		for _, line := range c.comments {
			b.WriteString(line + "\n")
		}
		fmt.Fprintf(&b, "%s\n----\n%s\n", c.command, c.want)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runScripts runs every testdata file matching glob through run.
func runScripts(t *testing.T, glob string, newRun func() func(cmd string, args scriptArgs) string) {
	files, err := filepath.Glob(filepath.Join("testdata", glob))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts %s: %v", glob, err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			run := newRun()
			cases := parseScript(t, path)
			for i, c := range cases {
				fields := strings.Fields(c.command)
				got := strings.TrimRight(run(fields[0], parseArgs(t, fields[1:])), "\n")
				if *rewrite {
					cases[i].want = got
				} else if got != c.want {
					t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", path, c.command, got, c.want)
				}
			}
			if *rewrite {
				writeScript(t, path, cases)
			}
		})
	}
}

// scriptArgs are a command's key=value arguments; a bare word is a flag.
type scriptArgs struct {
	t    *testing.T
	vals map[string]string
}

func parseArgs(t *testing.T, fields []string) scriptArgs {
	a := scriptArgs{t: t, vals: map[string]string{}}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		a.vals[k] = v
	}
	return a
}

func (a scriptArgs) str(k, def string) string {
	if v, ok := a.vals[k]; ok {
		return v
	}
	return def
}

func (a scriptArgs) flag(k string) bool { _, ok := a.vals[k]; return ok }

func (a scriptArgs) int(k string, def int64) int64 {
	v, ok := a.vals[k]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		a.t.Fatalf("argument %s=%q: %v", k, v, err)
	}
	return n
}

// kvs parses k=v,k=v (a value may not contain a comma).
func (a scriptArgs) kvs(k string) map[string]string {
	m := map[string]string{}
	if v, ok := a.vals[k]; ok && v != "" {
		for kv := range strings.SplitSeq(v, ",") {
			key, val, _ := strings.Cut(kv, "=")
			m[key] = val
		}
	}
	return m
}

// errorLine prints err with the sentinels it matches.
func errorLine(err error) string {
	sentinels := []struct {
		name string
		err  error
	}{
		{"TopicExists", ErrTopicExists}, {"UnknownTopic", ErrUnknownTopic}, {"InvalidTopic", ErrInvalidTopic},
		{"InvalidPartitions", ErrInvalidPartitions}, {"InvalidReplicationFactor", ErrInvalidReplicationFactor},
		{"InvalidConfig", ErrInvalidConfig}, {"UnknownConfig", ErrUnknownConfig},
		{"CorruptMetadata", ErrCorruptMetadata}, {"Closed", ErrClosed},
	}
	var is []string
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			is = append(is, s.name)
		}
	}
	return fmt.Sprintf("error %v: %v", is, err)
}

func shortID(id [16]byte) string { return fmt.Sprintf("%x", id[:2]) }

func formatRecord(r record) string {
	switch r := r.(type) {
	case clusterIDRecord:
		return "ClusterID " + r.ClusterID
	case registerBrokerRecord:
		return fmt.Sprintf("RegisterBroker id=%d %s:%d rack=%q incarnation=%s", r.ID, r.Host, r.Port, r.Rack, shortID(r.Incarnation))
	case topicRecord:
		return fmt.Sprintf("Topic %s id=%s internal=%v", r.Name, shortID(r.ID), r.Internal)
	case partitionRecord:
		return fmt.Sprintf("Partition topic=%s p%d replicas=%v isr=%v leader=%d epoch=%d/%d",
			shortID(r.TopicID), r.Partition, r.Replicas, r.ISR, r.Leader, r.LeaderEpoch, r.PartitionEpoch)
	case removeTopicRecord:
		return "RemoveTopic " + shortID(r.TopicID)
	case configRecord:
		if r.Delete {
			return fmt.Sprintf("Config %s delete %s", r.Topic, r.Key)
		}
		return fmt.Sprintf("Config %s %s=%s", r.Topic, r.Key, r.Value)
	case producerIDsRecord:
		return fmt.Sprintf("ProducerIDs end=%d", r.BlockEnd)
	}
	panic(fmt.Sprintf("unknown record %T", r))
}

func formatImage(im *Image) string {
	var b strings.Builder
	fmt.Fprintf(&b, "offset=%d cluster=%s controller=%d producer-ids-end=%d\n", im.Offset, im.ClusterID, im.ControllerID, im.ProducerIDsEnd)
	for _, br := range im.Brokers {
		fmt.Fprintf(&b, "broker %d %s:%d rack=%q\n", br.ID, br.Host, br.Port, br.Rack)
	}
	for _, name := range slices.Sorted(maps.Keys(im.Topics)) {
		t := im.Topics[name]
		if im.TopicsByID[t.ID] != t {
			fmt.Fprintf(&b, "BROKEN: TopicsByID[%s] is not Topics[%s]\n", shortID(t.ID), name)
		}
		fmt.Fprintf(&b, "topic %s id=%s internal=%v configs=%v\n", name, shortID(t.ID), t.Internal, t.Configs)
		for _, p := range t.Partitions {
			fmt.Fprintf(&b, "  p%d leader=%d epoch=%d/%d replicas=%v isr=%v\n", p.ID, p.Leader, p.LeaderEpoch, p.PartitionEpoch, p.Replicas, p.ISR)
		}
	}
	if len(im.TopicsByID) != len(im.Topics) {
		fmt.Fprintf(&b, "BROKEN: %d topics by id, %d by name\n", len(im.TopicsByID), len(im.Topics))
	}
	return b.String()
}

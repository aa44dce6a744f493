package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/internal/brokertest"
)

func TestMain(m *testing.M) { os.Exit(brokertest.Run(m)) }

// run runs a client program with a deadline and returns its stdout; a
// non-zero exit fails the test with the program's output.
func run(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (scripts/install-test-deps.sh installs it): %v", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

func TestKcat(t *testing.T) {
	b := brokertest.Start(t)
	const topic = "kcat-topic"
	createTopic(t, newClient(t, b.Addr()), topic, 2)

	t.Run("metadata", func(t *testing.T) {
		var meta struct {
			Brokers []struct {
				ID   int32  `json:"id"`
				Name string `json:"name"`
			} `json:"brokers"`
			Topics []struct {
				Topic      string            `json:"topic"`
				Partitions []json.RawMessage `json:"partitions"`
			} `json:"topics"`
		}
		out := run(t, "", "kcat", "-b", b.Addr(), "-L", "-J", "-t", topic)
		if err := json.Unmarshal([]byte(out), &meta); err != nil {
			t.Fatalf("kcat -L -J: %v\n%s", err, out)
		}
		if len(meta.Brokers) != 1 || meta.Brokers[0].Name != b.Addr() {
			t.Fatalf("brokers %+v, want one at %s", meta.Brokers, b.Addr())
		}
		if len(meta.Topics) != 1 || meta.Topics[0].Topic != topic || len(meta.Topics[0].Partitions) != 2 {
			t.Fatalf("topics %+v", meta.Topics)
		}
	})

	t.Run("produce and consume", func(t *testing.T) {
		var in strings.Builder
		for i := 0; i < 500; i++ {
			fmt.Fprintf(&in, "k%d:v%d\n", i, i)
		}
		run(t, in.String(), "kcat", "-b", b.Addr(), "-P", "-t", topic, "-p", "1", "-K", ":", "-z", "snappy")
		out := run(t, "", "kcat", "-b", b.Addr(), "-C", "-t", topic, "-p", "1", "-o", "beginning", "-e", "-f", "%k=%s@%o\n")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 500 {
			t.Fatalf("consumed %d lines, want 500", len(lines))
		}
		for i, l := range lines {
			if want := fmt.Sprintf("k%d=v%d@%d", i, i, i); l != want {
				t.Fatalf("line %d: %q, want %q", i, l, want)
			}
		}
	})

	t.Run("offsets by timestamp", func(t *testing.T) {
		base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
		cl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := 0; i < 100; i++ {
			r := &kgo.Record{Topic: topic, Partition: 0, Value: []byte(strconv.Itoa(i)), Timestamp: base.Add(time.Duration(i) * time.Second)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		// -Q: the first offset with a timestamp at or after base+42.5s is 43.
		ts := base.Add(42500 * time.Millisecond).UnixMilli()
		out := run(t, "", "kcat", "-b", b.Addr(), "-Q", "-t", fmt.Sprintf("%s:0:%d", topic, ts))
		if !strings.Contains(out, "offset 43") {
			t.Fatalf("kcat -Q: %q, want offset 43", out)
		}
		// -o s@ts starts consuming at that offset.
		out = run(t, "", "kcat", "-b", b.Addr(), "-C", "-t", topic, "-p", "0", "-o", fmt.Sprintf("s@%d", ts), "-e", "-f", "%s\n")
		if first := strings.SplitN(out, "\n", 2)[0]; first != "43" {
			t.Fatalf("kcat -o s@ts started at %q, want 43", first)
		}
	})
}

func TestPythonConfluentKafka(t *testing.T) {
	b := brokertest.Start(t)
	out := run(t, "", "/usr/bin/python3", "testdata/confluent_client.py", b.Addr())
	if strings.TrimSpace(out) != "ok" {
		t.Fatalf("python client: %q", out)
	}
}

func TestKafkaJS(t *testing.T) {
	b := brokertest.Start(t)
	modules, err := filepath.Abs("../tests/js/node_modules")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NODE_PATH", modules)
	out := run(t, "", "node", "testdata/kafkajs_client.js", b.Addr())
	if strings.TrimSpace(out) != "ok" {
		t.Fatalf("kafkajs client: %q", out)
	}
}

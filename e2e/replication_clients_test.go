package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKcatThroughLeaderChange: kcat (librdkafka) produces with acks=all
// and idempotence, and another kcat consumes, while the partition's
// leader is killed with kill -9 and restarted; the producer exits cleanly
// and the consumer reads every line once, in order, at offsets 0..n-1.
func TestKcatThroughLeaderChange(t *testing.T) {
	const topic, half = "kcat-leader-change", 1000
	c, st := replicatedCluster(t, topic, 2)
	addrs := c.Addrs()
	bootstrap := strings.Join(addrs, ",")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	consumer := startClient(t, ctx, "kcat", "-b", bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning",
		"-c", strconv.Itoa(2*half), "-q", "-f", "%o %s\n")
	producer := exec.CommandContext(ctx, "kcat", "-b", bootstrap, "-P", "-t", topic, "-p", "0",
		"-X", "acks=all", "-X", "enable.idempotence=true", "-X", "message.timeout.ms=180000")
	var prodOut, prodErr syncBuffer
	producer.Stdout, producer.Stderr = &prodOut, &prodErr
	stdin, err := producer.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := producer.Start(); err != nil {
		t.Fatalf("kcat -P: %v", err)
	}
	write := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := fmt.Fprintf(stdin, "kcat-%06d\n", i); err != nil {
				t.Fatalf("kcat -P stdin: %v\n%s", err, prodErr.String())
			}
		}
	}
	adm := kadm.NewClient(newClient(t, addrs[0], kgo.SeedBrokers(addrs...)))
	committed := func(n int64) func() bool {
		return func() bool {
			ends, err := adm.ListEndOffsets(ctx, topic)
			if err != nil || ends.Error() != nil {
				return false
			}
			o, _ := ends.Lookup(topic, 0)
			return o.Offset >= n
		}
	}

	write(0, half)
	waitFor(t, replicationWait, "the first half committed", committed(half/2))
	c.Node(st.leader).Kill()
	write(half, 2*half)
	waitNewLeader(t, c, topic, st.leader)
	c.Node(st.leader).Restart()
	if err := stdin.Close(); err != nil {
		t.Fatal(err)
	}
	if err := producer.Wait(); err != nil {
		t.Fatalf("kcat -P through a leader change: %v\n%s", err, prodErr.String())
	}
	// Connection errors to the killed broker are retried; a failed
	// delivery or produce is not.
	if e := prodErr.String(); strings.Contains(e, "Delivery failed") || strings.Contains(e, "Failed to produce") {
		t.Errorf("kcat -P lost records:\n%s", e)
	}
	waitFor(t, replicationWait, "every line committed", committed(2*half))

	out := consumer.wait(t)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2*half {
		t.Fatalf("kcat -C read %d lines, want %d:\n%s", len(lines), 2*half, consumer.stderr.String())
	}
	for i, l := range lines {
		if want := fmt.Sprintf("%d kcat-%06d", i, i); l != want {
			t.Fatalf("kcat -C line %d: %q, want %q", i, l, want)
		}
	}
}

// TestPythonConfluentThroughLeaderChange: python3-confluent-kafka
// produces with acks=all and idempotence through a leader kill
// (scriptThroughLeaderChange).
func TestPythonConfluentThroughLeaderChange(t *testing.T) {
	scriptThroughLeaderChange(t, "python-leader-change", "/usr/bin/python3", "testdata/confluent_leader_change.py")
}

// TestKafkaJSThroughLeaderChange: kafkajs produces with acks=-1 and
// idempotence through a leader kill and reads it all back through a
// consumer group (scriptThroughLeaderChange).
func TestKafkaJSThroughLeaderChange(t *testing.T) {
	modules, err := filepath.Abs("../tests/js/node_modules")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NODE_PATH", modules)
	scriptThroughLeaderChange(t, "kafkajs-leader-change", "node", "testdata/kafkajs_leader_change.js")
}

// scriptThroughLeaderChange runs a client script (arguments BOOTSTRAP
// TOPIC COUNT) against a replicated topic: after it prints "half" (the
// first half delivered) the partition's leader is killed with kill -9,
// the script is told to go on, the second half goes to the new leader,
// and the old one is restarted. The script fails on any error its client
// does not retry, and checks every record once, in order, at its offset,
// printing "ok".
func scriptThroughLeaderChange(t *testing.T, topic string, command ...string) {
	const count = 2000
	c, st := replicatedCluster(t, topic, 2)
	addrs := c.Addrs()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append(command[1:], strings.Join(addrs, ","), topic, strconv.Itoa(count))
	script := exec.CommandContext(ctx, command[0], args...)
	var stderr syncBuffer
	script.Stderr = &stderr
	stdin, err := script.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := script.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := script.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 2)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func(want string) {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok || l != want {
				_ = script.Wait()
				t.Fatalf("%s: %q (open %v), want %q\n%s", command[0], l, ok, want, stderr.String())
			}
		case <-time.After(3 * time.Minute):
			t.Fatalf("%s: no %q after 3 minutes\n%s", command[0], want, stderr.String())
		}
	}

	next("half")
	c.Node(st.leader).Kill()
	if _, err := fmt.Fprintln(stdin, "go"); err != nil {
		t.Fatal(err)
	}
	waitNewLeader(t, c, topic, st.leader)
	c.Node(st.leader).Restart()
	next("ok")
	if err := script.Wait(); err != nil {
		t.Fatalf("%s: %v\n%s", command[0], err, stderr.String())
	}
}

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/internal/brokertest"
)

// txnKeyed runs one transaction writing value prefix-<key> to each key.
func txnKeyed(t *testing.T, cl *kgo.Client, topic, prefix string, keys []string, commit bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	for _, k := range keys {
		r := &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte(prefix + "-" + k)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", r.Value, err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("end transaction %s (commit %v): %v", prefix, commit, err)
	}
}

// partitionFiles concatenates the live files of a partition's directory
// with the given suffix (the old segments a clean renamed .deleted are
// not read).
func partitionFiles(t *testing.T, dir, suffix string) []byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil && !errors.Is(err, os.ErrNotExist) { // a clean may rename it meanwhile
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// A compacted topic written with committed and aborted transactions is
// cleaned as Kafka cleans it: the aborted records leave the disk,
// read_committed and read_uncommitted consumers (franz-go) both see each
// key's latest committed value only, and once a later clean finds an
// aborted transaction without data its .txnindex entry goes.
func TestCompactedTopicTransactions(t *testing.T) {
	const topic = "compacted-txn"
	b := brokertest.Start(t, cleanerArgs...)
	admin := newClient(t, b.Addr())
	createTopicWithConfigs(t, admin, topic, map[string]string{
		"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "0",
	})
	p := newClient(t, b.Addr(), kgo.TransactionalID("compacted-txn"), kgo.TransactionTimeout(30*time.Second),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.DefaultProduceTopic(topic))
	low, high := []string{"k0", "k1", "k2", "k3", "k4"}, []string{"k5", "k6", "k7", "k8", "k9"}
	all := append(append([]string{}, low...), high...)
	txnKeyed(t, p, topic, "c1", all, true)
	txnKeyed(t, p, topic, "a2", all, false)
	txnKeyed(t, p, topic, "c3", low, true)
	txnKeyed(t, p, topic, "a4", high, false)

	dir := filepath.Join(b.DataDir(), topic+"-0")
	expected := func(values map[string]bool) func() bool {
		return func() bool {
			segs := partitionFiles(t, dir, ".log")
			for v := range values {
				if !bytes.Contains(segs, []byte(v)) {
					return false
				}
			}
			return !bytes.Contains(segs, []byte("a2-")) && !bytes.Contains(segs, []byte("a4-")) &&
				!bytes.Contains(segs, []byte("c1-k0")) // replaced by c3-k0
		}
	}
	want := map[string]bool{}
	for _, k := range low {
		want["c3-"+k] = true
	}
	for _, k := range high {
		want["c1-"+k] = true
	}
	waitFor(t, 2*time.Minute, "the aborted records to be cleaned away", expected(want))
	for _, committed := range []bool{true, false} {
		got := consumeValues(t, b.Addr(), topic, committed, len(want), time.Second)
		if len(got) != len(want) {
			t.Fatalf("read_committed %v: %v, want %v", committed, got, want)
		}
		for v := range want {
			if got[v] != 1 {
				t.Fatalf("read_committed %v: %v, want %v", committed, got, want)
			}
		}
	}

	// A second round: the cleans that follow find a2 and a4 without data
	// and forget them; a6's records go, its marker and index entry (34
	// bytes) stay until a clean after that, if one comes.
	txnKeyed(t, p, topic, "c5", []string{"k0"}, true)
	txnKeyed(t, p, topic, "a6", []string{"k1"}, false)
	delete(want, "c3-k0")
	want["c5-k0"] = true
	waitFor(t, 2*time.Minute, "a6 cleaned away and a2, a4 forgotten", func() bool {
		return expected(want)() && !bytes.Contains(partitionFiles(t, dir, ".log"), []byte("a6-")) &&
			len(partitionFiles(t, dir, ".txnindex")) <= 34
	})
	got := consumeValues(t, b.Addr(), topic, true, len(want), time.Second)
	if len(got) != len(want) || got["c5-k0"] != 1 || got["c3-k0"] != 0 {
		t.Fatalf("read_committed after the second round: %v, want %v", got, want)
	}
	if m := scrape(t, b.AdminAddr()); m["riffle_cleaner_errors_total"] != 0 {
		t.Fatalf("cleaner errors: %v", m["riffle_cleaner_errors_total"])
	}
}

// A produce to a compacted topic with a record without a key is refused
// with INVALID_RECORD (franz-go, and kcat's librdkafka), nothing of it
// appended; keyed records go in.
func TestCompactedTopicRefusesKeylessRecords(t *testing.T) {
	const topic = "compacted-keys"
	b := brokertest.Start(t)
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(50*time.Millisecond))
	createTopicWithConfigs(t, cl, topic, map[string]string{"cleanup.policy": "compact"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// One batch: a keyed record and a keyless one.
	results := make(chan error, 2)
	for _, r := range []*kgo.Record{{Key: []byte("k"), Value: []byte("keyed")}, {Value: []byte("keyless")}} {
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) { results <- err })
	}
	for range 2 {
		if err := <-results; !errors.Is(err, kerr.InvalidRecord) {
			t.Fatalf("a batch with a keyless record: %v, want INVALID_RECORD", err)
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte("keyed")}).FirstErr(); err != nil {
		t.Fatalf("keyed record: %v", err)
	}
	// kcat without -K sends null keys.
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is not installed (scripts/install-test-deps.sh installs it): %v", err)
	}
	cmd := exec.CommandContext(ctx, kcat, "-b", b.Addr(), "-P", "-t", topic)
	cmd.Stdin = strings.NewReader("keyless\n")
	out, err := cmd.CombinedOutput()
	// librdkafka's text for INVALID_RECORD.
	if err == nil || !strings.Contains(string(out), "Broker failed to validate record") {
		t.Fatalf("kcat keyless produce: %v\n%q", err, out)
	}
	run(t, "k:keyed2\n", "kcat", "-b", b.Addr(), "-P", "-t", topic, "-K", ":")
	if end := endOffsets(t, b.Addr(), topic)[0]; end != 2 {
		t.Fatalf("end offset %d, want the 2 keyed records only", end)
	}
	if got := consumeValues(t, b.Addr(), topic, false, 2, time.Second); fmt.Sprint(got) != "map[keyed:1 keyed2:1]" {
		t.Fatalf("records %v, want keyed and keyed2", got)
	}
}

package chaos

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/benchmarks/chaos/check"
)

// TestReadersOutliveProducers: stopping the producers at the drain must
// leave the readers reading, so that records acknowledged after it (the
// producers' last flush) are read too. When the readers shared the
// producers' context they stopped with them, and every record
// acknowledged after the workload's end showed as a stuck reader.
func TestReadersOutliveProducers(t *testing.T) {
	seeds, adm := fakeCluster(t, 2, "outlive")
	ctx := context.Background()
	cfg := workloadConfig{topic: "outlive", group: "outlive-group", partitions: 2, producers: 1, rate: 100}
	r := newRecorder(time.Now())
	cl, err := startClients(ctx, cfg, seeds, r, adm)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.close()
	ends := func() map[int32]int64 {
		t.Helper()
		var e map[int32]int64
		if err := waitFor(ctx, 10*time.Second, "end offsets", func(ctx context.Context) (err error) {
			e, err = adm.endOffsets(ctx, cfg.topic, cfg.partitions)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return e
	}
	if err := waitFor(ctx, 20*time.Second, "every partition produced to and read", func(context.Context) error {
		e := ends()
		for p, end := range e {
			if end == 0 {
				return fmt.Errorf("partition %d still empty", p)
			}
		}
		return caughtUp(r, e, cfg.group)
	}); err != nil {
		t.Fatal(err)
	}
	cl.stopProducing(10 * time.Second)
	// Records acknowledged once the producer loops have stopped, as the
	// last flush's are.
	late, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(cfg.topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	for p := range int32(cfg.partitions) {
		if err := late.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("late")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	final := ends()
	if err := waitFor(ctx, 20*time.Second, "readers caught up after the producers stopped", func(context.Context) error {
		return caughtUp(r, final, cfg.group)
	}); err != nil {
		t.Fatal(err)
	}
}

// TestTransactionsReadCommitted runs the transactional producer and the
// read_committed reader against kfake: every transaction ends committed or
// aborted on purpose, and the checker finds the reads clean.
func TestTransactionsReadCommitted(t *testing.T) {
	seeds, adm := fakeCluster(t, 3, "txn-plain", "txn-txn")
	ctx := context.Background()
	cfg := workloadConfig{topic: "txn-plain", group: "txn-group", partitions: 3, producers: 1, rate: 50,
		txnTopic: "txn-txn", txnProducers: 1}
	r := newRecorder(time.Now())
	cl, err := startClients(ctx, cfg, seeds, r, adm)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.close()
	outcomes := func() map[string]int {
		r.mu.Lock()
		defer r.mu.Unlock()
		n := map[string]int{}
		for _, tx := range r.hist.Txns {
			n[tx.Outcome]++
		}
		return n
	}
	if err := waitFor(ctx, 30*time.Second, "committed and aborted transactions", func(context.Context) error {
		if n := outcomes(); n[check.Committed] < 8 || n[check.Aborted] < 2 {
			return fmt.Errorf("outcomes so far %v", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cl.stopProducing(10 * time.Second)
	cl.endTransactions()
	if err := waitFor(ctx, 30*time.Second, "read_committed reader caught up", func(context.Context) error { return txnCaughtUp(r) }); err != nil {
		t.Fatal(err)
	}
	cl.close()
	r.mu.Lock()
	h := check.History{Txns: r.hist.Txns, TxnReads: r.hist.TxnReads}
	r.mu.Unlock()
	if n := outcomes(); n[check.Unknown] > 0 {
		t.Errorf("outcomes %v: unknown without faults", n)
	}
	if last := h.Txns[len(h.Txns)-1]; !strings.HasPrefix(last.ID, txnEndID) || last.Outcome != check.Committed {
		t.Errorf("last transaction %+v, want %s committed", last, txnEndID)
	}
	if got := check.Check(h); len(got) > 0 {
		t.Fatalf("anomalies: %+v", got)
	}
}

// fakeCluster starts a one-broker kfake cluster with topics of partitions
// partitions, and an admin client of it; both close with the test.
func fakeCluster(t *testing.T, partitions int32, topics ...string) ([]string, admin) {
	t.Helper()
	fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	seeds := fake.ListenAddrs()
	adminCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adminCl.Close)
	return seeds, admin{adminCl}
}

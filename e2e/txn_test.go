package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/riffle/riffle/internal/brokertest"
	"github.com/riffle/riffle/segment"
)

// txnProduce runs one transaction of n records to topic, valued
// prefix-i, and ends it with commit.
func txnProduce(t *testing.T, cl *kgo.Client, topic, prefix string, n int, commit bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(i % 3), Value: fmt.Appendf(nil, "%s-%d", prefix, i)}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("end transaction (commit %v): %v", commit, err)
	}
}

// consumeValues reads topic from the start until want records arrived
// (failing after the deadline), then for quiet longer, and returns every
// value seen.
func consumeValues(t *testing.T, addr, topic string, committed bool, want int, quiet time.Duration) map[string]int {
	t.Helper()
	opts := []kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl := newClient(t, addr, opts...)
	seen := map[string]int{}
	n := 0
	deadline := time.Now().Add(60 * time.Second)
	var quietUntil time.Time
	for {
		now := time.Now()
		if n >= want && quietUntil.IsZero() {
			quietUntil = now.Add(quiet)
		}
		if !quietUntil.IsZero() && now.After(quietUntil) {
			return seen
		}
		if now.After(deadline) {
			t.Fatalf("read %d of %d records of %s (read_committed %v)", n, want, topic, committed)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("fetch: %v", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			seen[string(r.Value)]++
			n++
		})
	}
}

func TestTransactionsCommitAndAbort(t *testing.T) {
	b := brokertest.Start(t)
	admin := newClient(t, b.Addr())
	createTopic(t, admin, "txn-out", 3)
	p := newClient(t, b.Addr(), kgo.TransactionalID("tx-commit-abort"), kgo.TransactionTimeout(30*time.Second),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	txnProduce(t, p, "txn-out", "aborted", 30, false)
	txnProduce(t, p, "txn-out", "committed", 30, true)
	txnProduce(t, p, "txn-out", "aborted2", 30, false)

	got := consumeValues(t, b.Addr(), "txn-out", true, 30, time.Second)
	if len(got) != 30 {
		t.Fatalf("read_committed saw %d distinct records, want the 30 committed: %v", len(got), got)
	}
	for i := range 30 {
		if v := fmt.Sprintf("committed-%d", i); got[v] != 1 {
			t.Fatalf("read_committed saw %s %d times", v, got[v])
		}
	}
	if all := consumeValues(t, b.Addr(), "txn-out", false, 90, 0); len(all) != 90 {
		t.Fatalf("read_uncommitted saw %d records, want all 90", len(all))
	}

	// The admin view: riffle txn list|describe.
	listed := decodeJSON[[]map[string]any](t, ok(t, b.Addr(), "", "txn", "list", "--json"))
	if len(listed) != 1 || listed[0]["transactional_id"] != "tx-commit-abort" || listed[0]["state"] != "CompleteAbort" {
		t.Fatalf("txn list: %v", listed)
	}
	out := ok(t, b.Addr(), "", "txn", "describe", "tx-commit-abort")
	if !strings.Contains(out, "tx-commit-abort") || !strings.Contains(out, "CompleteAbort") {
		t.Fatalf("txn describe:\n%s", out)
	}
	// A transaction left open shows its partitions.
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.ProduceSync(ctx, &kgo.Record{Topic: "txn-out", Partition: 2, Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	desc := decodeJSON[[]map[string]any](t, ok(t, b.Addr(), "", "txn", "describe", "--json", "tx-commit-abort"))
	if len(desc) != 1 || desc[0]["state"] != "Ongoing" || fmt.Sprint(desc[0]["partitions"]) != "[txn-out-2]" {
		t.Fatalf("txn describe of an open transaction: %v", desc)
	}
	// Metrics: one transaction open, holding partition 2's LSO back by its
	// record; one committed, two aborted.
	m := scrape(t, b.AdminAddr())
	expect(t, m, "riffle_txn_ongoing", 1)
	expect(t, m, "riffle_txn_commits_total", 1)
	expect(t, m, "riffle_txn_aborts_total", 2)
	expect(t, m, `riffle_partition_lso_lag_offsets{topic="txn-out",partition="2"}`, 1)
	expect(t, m, `riffle_partition_lso_lag_offsets{topic="txn-out",partition="1"}`, 0)
	// DescribeProducers names the open transaction's first offset.
	dp := kmsg.NewPtrDescribeProducersRequest()
	dp.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: "txn-out", Partitions: []int32{2}}}
	dresp, err := dp.RequestWith(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	prods := dresp.Topics[0].Partitions[0].ActiveProducers
	if len(prods) != 1 || prods[0].CurrentTxnStartOffset < 0 || prods[0].LastSequence < 0 {
		t.Fatalf("DescribeProducers: %+v", dresp.Topics[0].Partitions[0])
	}
}

func TestTransactionsFencing(t *testing.T) {
	b := brokertest.Start(t)
	admin := newClient(t, b.Addr())
	createTopic(t, admin, "fenced", 3)
	first := newClient(t, b.Addr(), kgo.TransactionalID("tx-fence"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := first.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := first.ProduceSync(ctx, &kgo.Record{Topic: "fenced", Value: []byte("zombie")}).FirstErr(); err != nil {
		t.Fatalf("first producer: %v", err)
	}
	// The second producer's InitProducerId aborts the first's transaction
	// and fences it.
	second := newClient(t, b.Addr(), kgo.TransactionalID("tx-fence"))
	txnProduce(t, second, "fenced", "second", 3, true)
	err := first.EndTransaction(ctx, kgo.TryCommit)
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("fenced producer's commit: %v, want PRODUCER_FENCED", err)
	}
	got := consumeValues(t, b.Addr(), "fenced", true, 3, time.Second)
	if len(got) != 3 || got["zombie"] != 0 {
		t.Fatalf("read_committed saw %v, want the second producer's 3 records only", got)
	}
}

// txnRecords is how many records the exactly-once test moves: the
// issue's 100,000 with RIFFLE_LONG=1.
func txnRecords() int {
	if os.Getenv("RIFFLE_LONG") == "1" {
		return 100_000
	}
	return 10_000
}

// TestTransactionsExactlyOnceGroupSession moves every record of an input
// topic to an output topic with franz-go's GroupTransactSession
// (consume-transform-produce, offsets committed in the transaction), with
// a second member joining halfway so that the group rebalances, and
// checks that a read_committed reader sees each input record exactly once.
func TestTransactionsExactlyOnceGroupSession(t *testing.T) {
	b := brokertest.Start(t)
	admin := newClient(t, b.Addr())
	createTopic(t, admin, "eos-in", 4)
	createTopic(t, admin, "eos-out", 4)
	n := txnRecords()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Round robin: the default sticky partitioner can leave partitions
	// empty (CI: all 10,000 on two of four), and a member given only
	// empty ones moves nothing.
	in := newClient(t, b.Addr(), kgo.ProducerLinger(5*time.Millisecond), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	for i := range n {
		in.Produce(ctx, &kgo.Record{Topic: "eos-in", Value: []byte(strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("input produce: %v", err)
			}
		})
	}
	if err := in.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// Records each member moved in committed transactions.
	moved := map[string]*atomic.Int64{"a": new(atomic.Int64), "b": new(atomic.Int64)}
	// Members that have been assigned partitions. Neither moves a record
	// before both have been: on a loaded machine one member's join can
	// come late, and the other would otherwise move everything alone.
	assigned := map[string]*atomic.Bool{"a": new(atomic.Bool), "b": new(atomic.Bool)}
	bothAssigned := func() bool { return assigned["a"].Load() && assigned["b"].Load() }
	run := func(member string, stop <-chan struct{}, wg *sync.WaitGroup) {
		defer wg.Done()
		s, err := kgo.NewGroupTransactSession(
			kgo.SeedBrokers(b.Addr()),
			kgo.TransactionalID("eos-"+member),
			kgo.ConsumerGroup("eos-group"),
			kgo.ConsumeTopics("eos-in"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(),
			kgo.SessionTimeout(10*time.Second),
			kgo.ProducerLinger(0),
			// The group's joins, assignments and revocations, to tell why
			// a member moved nothing.
			kgo.WithLogger(testLogger(t, kgo.LogLevelInfo, member+": ")),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, got map[string][]int32) {
				if len(got) > 0 {
					assigned[member].Store(true)
				}
			}),
		)
		if err != nil {
			t.Errorf("session %s: %v", member, err)
			return
		}
		defer s.Close()
		// Transactions are paced so that the second member joins while
		// there is work left: the group rebalances mid-stream.
		pace := time.NewTicker(50 * time.Millisecond)
		defer pace.Stop()
		joinBy := time.Now().Add(time.Minute)
		for !bothAssigned() {
			if time.Now().After(joinBy) {
				t.Errorf("%s: a member has no partitions a minute after joining: a %v, b %v", member, assigned["a"].Load(), assigned["b"].Load())
				return
			}
			select {
			case <-stop:
				return
			case <-pace.C:
			}
		}
		for {
			select {
			case <-stop:
				return
			case <-pace.C:
			}
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			fs := s.PollRecords(pctx, 100)
			pcancel()
			if err := s.Begin(); err != nil {
				t.Errorf("begin %s: %v", member, err)
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				s.Produce(ctx, &kgo.Record{Topic: "eos-out", Value: r.Value}, func(_ *kgo.Record, err error) {
					if err != nil {
						t.Logf("%s: output produce: %v (the transaction aborts)", member, err)
					}
				})
			})
			committed, err := s.End(ctx, kgo.TryCommit)
			if err != nil {
				t.Errorf("end %s: %v", member, err)
				return
			}
			if committed {
				moved[member].Add(int64(fs.NumRecords()))
			}
		}
	}
	// Both members start in the first generation (the initial rebalance
	// delay gathers them); b leaves once a third of the output is in and
	// it committed some of it (on a loaded machine its first commit can
	// come late), so the group rebalances mid-stream and a takes b's
	// partitions over.
	stop, stopB := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go run("a", stop, &wg)
	go run("b", stopB, &wg)

	out := newClient(t, b.Addr(), kgo.ConsumeTopics("eos-out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	seen := make(map[string]int, n)
	total, left := 0, false
	deadline := time.Now().Add(4 * time.Minute)
	for len(seen) < n {
		if time.Now().After(deadline) {
			close(stop)
			if !left {
				close(stopB)
			}
			wg.Wait()
			t.Fatalf("output has %d of %d distinct records after the deadline", len(seen), n)
		}
		if !left && len(seen) >= n/3 && moved["b"].Load() > 0 {
			left = true
			close(stopB)
		}
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := out.PollFetches(pctx)
		pcancel()
		fs.EachRecord(func(r *kgo.Record) {
			seen[string(r.Value)]++
			total++
		})
	}
	close(stop)
	if !left {
		close(stopB)
	}
	wg.Wait()
	// Anything late would be a duplicate.
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	out.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
		seen[string(r.Value)]++
		total++
	})
	pcancel()
	if total != n {
		dups := 0
		for _, c := range seen {
			if c > 1 {
				dups++
			}
		}
		t.Fatalf("read_committed output has %d records for %d inputs (%d duplicated)", total, n, dups)
	}
	for _, member := range []string{"a", "b"} {
		n := moved[member].Load()
		t.Logf("member %s moved %d records", member, n)
		if n == 0 {
			t.Errorf("member %s moved nothing: both should have had partitions", member)
		}
	}
	// franz-go ran transaction version 2 (KIP-890 part 2): the partitions
	// and offsets joined the transactions without AddPartitionsToTxn or
	// AddOffsetsToTxn.
	m := scrape(t, b.AdminAddr())
	expect(t, m, `riffle_kafka_requests_total{api="AddPartitionsToTxn"}`, 0)
	expect(t, m, `riffle_kafka_requests_total{api="AddOffsetsToTxn"}`, 0)
	if m[`riffle_kafka_requests_total{api="TxnOffsetCommit"}`] == 0 {
		t.Errorf("no TxnOffsetCommit served")
	}
}

// TestTransactionsVerifyPartitionAdded: KIP-890 part 1. A transactional
// batch for a partition its producer did not add to the transaction is
// refused (INVALID_TXN_STATE) instead of opening a transaction that would
// hang; once added, the same batch is appended.
func TestTransactionsVerifyPartitionAdded(t *testing.T) {
	b := brokertest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "verified", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id := "tx-verify"
	pid, epoch := initTxnProducer(ctx, t, cl, id)
	// Produce v11: the part 1 protocol (v12 has the leader add the
	// partition, TestTransactionsImplicitAdd).
	v11 := newClient(t, b.Addr(), kgo.MaxVersions(maxVersion(kmsg.Produce, 11)))
	produce := func() int16 {
		return txnProduceRaw(ctx, t, v11, id, "verified", 0, pid, epoch, 0, 11)
	}
	if code := produce(); code != kerr.InvalidTxnState.Code {
		t.Fatalf("transactional produce to a partition not added: code %d, want INVALID_TXN_STATE", code)
	}
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, pid, epoch
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "verified", Partitions: []int32{0}}}
	if resp, err := add.RequestWith(ctx, cl); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("AddPartitionsToTxn: %v %+v", err, resp)
	}
	if code := produce(); code != 0 {
		t.Fatalf("transactional produce after AddPartitionsToTxn: code %d", code)
	}
}

// initTxnProducer has InitProducerId give transactional id its producer
// id and epoch, retrying while the coordinator loads.
func initTxnProducer(ctx context.Context, t *testing.T, cl *kgo.Client, id string) (int64, int16) {
	t.Helper()
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID, init.TransactionTimeoutMillis = &id, 60000
	for {
		resp, err := init.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode == 0 {
			return resp.ProducerID, resp.ProducerEpoch
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); !kerr.IsRetriable(err) {
			t.Fatalf("InitProducerId: %v", err)
		}
		select { // the coordinator is loading: back off as a client does
		case <-ctx.Done():
			t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(resp.ErrorCode))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// txnProduceRaw sends one transactional batch of one record for the
// producer at sequence seq, with Produce at version (the client's
// MaxVersions must allow it), and returns the partition's error code.
func txnProduceRaw(ctx context.Context, t *testing.T, cl *kgo.Client, id, topic string, partition int32, pid int64, epoch int16, seq int32, version int16) int16 {
	t.Helper()
	batch := segment.EncodeBatch(nil, segment.BatchSpec{BaseTimestamp: time.Now().UnixMilli(), ProducerID: pid, ProducerEpoch: epoch,
		BaseSequence: seq, Attributes: segment.AttrTransactional}, []segment.Record{{Value: []byte("v")}})
	req := kmsg.NewPtrProduceRequest()
	req.TransactionID, req.Acks, req.TimeoutMillis = &id, -1, 10000
	req.Topics = []kmsg.ProduceRequestTopic{{Topic: topic, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: partition, Records: batch}}}}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Version != version {
		t.Fatalf("Produce went as v%d, want v%d", resp.Version, version)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// maxVersion is the client's newest versions with key capped at v.
func maxVersion(key kmsg.Key, v int16) *kversion.Versions {
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(int16(key), v)
	return vs
}

// TestTransactionalProduceThroughput (RIFFLE_LONG=1) measures, in one run
// against one broker, franz-go producing 100-byte records to 3 partitions
// (acks=all, no compression, linger 0) idempotently and in transactions of
// 100 records, each committed before the next begins; it logs both
// rates.
func TestTransactionalProduceThroughput(t *testing.T) {
	if os.Getenv("RIFFLE_LONG") != "1" {
		t.Skip("RIFFLE_LONG=1 runs it")
	}
	b := brokertest.Start(t)
	admin := newClient(t, b.Addr())
	createTopic(t, admin, "tput-idem", 3)
	createTopic(t, admin, "tput-txn", 3)
	const n, perTxn = 200_000, 100
	value := make([]byte, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	idem := newClient(t, b.Addr(), kgo.ProducerLinger(0))
	start := time.Now()
	for range n {
		idem.Produce(ctx, &kgo.Record{Topic: "tput-idem", Value: value}, nil)
	}
	if err := idem.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	idemRate := float64(n) / time.Since(start).Seconds()

	txn := newClient(t, b.Addr(), kgo.ProducerLinger(0), kgo.TransactionalID("tput"))
	start = time.Now()
	for i := 0; i < n; i += perTxn {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for range perTxn {
			txn.Produce(ctx, &kgo.Record{Topic: "tput-txn", Value: value}, nil)
		}
		if err := txn.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
	txnRate := float64(n) / time.Since(start).Seconds()
	// Every record is in: n records plus a marker per transaction and
	// partition touched.
	ends, err := kadm.NewClient(admin).ListCommittedOffsets(ctx, "tput-txn")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total < n+n/perTxn {
		t.Fatalf("read_committed end offsets sum to %d, want at least %d", total, n+n/perTxn)
	}
	t.Logf("idempotent: %.0f records/s; transactional, %d records per transaction: %.0f records/s (%.0f transactions/s)",
		idemRate, perTxn, txnRate, txnRate/perTxn)
}

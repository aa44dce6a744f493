package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
)

// describeTxn returns the coordinator's producer id and epoch and state
// of transactional id.
func describeTxn(ctx context.Context, t *testing.T, cl *kgo.Client, id string) (int64, int16, string) {
	t.Helper()
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{id}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	s := resp.TransactionStates[0]
	if err := kerr.ErrorForCode(s.ErrorCode); err != nil {
		t.Fatalf("DescribeTransactions %s: %v", id, err)
	}
	return s.ProducerID, s.ProducerEpoch, s.State
}

// partitionProducers is DescribeProducers for one partition.
func partitionProducers(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, partition int32) []kmsg.DescribeProducersResponseTopicPartitionActiveProducer {
	t.Helper()
	req := kmsg.NewPtrDescribeProducersRequest()
	req.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: topic, Partitions: []int32{partition}}}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatalf("DescribeProducers %s-%d: %v", topic, partition, err)
	}
	return p.ActiveProducers
}

// startTxnClient starts a broker with a 3-partition topic and a franz-go
// producer of transactional id id (partitions chosen per record) that has
// talked to it: franz-go opts into transaction version 2 once it knows
// the broker's versions, so from its first transaction on.
func startTxnClient(t *testing.T, topic, id string, opts ...kgo.Opt) (*brokertest.Broker, *kgo.Client, *kgo.Client) {
	t.Helper()
	b := brokertest.Start(t)
	admin := newClient(t, b.Addr())
	createTopic(t, admin, topic, 3)
	p := newClient(t, b.Addr(), append([]kgo.Opt{kgo.TransactionalID(id), kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	return b, admin, p
}

// TestTransactionsFranzGoVersion2: franz-go runs its transactions in
// transaction version 2 (KIP-890 part 2) against Riffle: each end bumps
// the producer epoch, which the coordinator and the partitions' markers
// show, and no AddPartitionsToTxn is sent (the leaders add the
// partitions). Committed records alone reach read_committed readers.
func TestTransactionsFranzGoVersion2(t *testing.T) {
	const id = "tx-tv2"
	b, admin, p := startTxnClient(t, "tv2-out", id)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	txnProduce(t, p, "tv2-out", "c1", 9, true)
	pid, first, state := describeTxn(ctx, t, admin, id)
	if first != 1 || (state != "CompleteCommit" && state != "PrepareCommit") {
		t.Fatalf("after the first transaction: epoch %d state %s, want epoch 1 (InitProducerId's 0, bumped by the commit)", first, state)
	}
	for i, commit := range []bool{false, true, false, true} {
		txnProduce(t, p, "tv2-out", fmt.Sprintf("t%d-%v", i, commit), 9, commit)
		gotPID, epoch, _ := describeTxn(ctx, t, admin, id)
		if gotPID != pid || epoch != first+int16(i)+1 {
			t.Fatalf("after transaction %d: producer %d epoch %d, want %d epoch %d (a bump per transaction)", i+2, gotPID, epoch, pid, first+int16(i)+1)
		}
	}
	// Every partition's last marker carries the bumped epoch of the last
	// end, once the markers are written.
	last := first + 4
	for part := int32(0); part < 3; part++ {
		var prods []kmsg.DescribeProducersResponseTopicPartitionActiveProducer
		waitFor(t, 30*time.Second, fmt.Sprintf("DescribeProducers tv2-out-%d shows producer %d at epoch %d with no open transaction", part, pid, last), func() bool {
			prods = partitionProducers(ctx, t, admin, "tv2-out", part)
			return len(prods) == 1 && prods[0].ProducerID == pid && prods[0].ProducerEpoch == int32(last) && prods[0].CurrentTxnStartOffset == -1
		})
	}
	got := consumeValues(t, b.Addr(), "tv2-out", true, 27, time.Second)
	if len(got) != 27 {
		t.Fatalf("read_committed saw %d distinct records, want the 27 committed: %v", len(got), got)
	}
	for v := range got {
		if v[:2] != "c1" && v[:2] != "t1" && v[:2] != "t3" {
			t.Fatalf("read_committed saw %s of an aborted transaction", v)
		}
	}
	m := scrape(t, b.AdminAddr())
	expect(t, m, `riffle_kafka_requests_total{api="AddPartitionsToTxn"}`, 0)
}

// TestTransactionsImplicitAdd speaks the version 2 protocol by hand:
// Produce v12 adds its partition to the transaction without
// AddPartitionsToTxn; EndTxn v5 answers the bumped epoch; a late batch of
// the ended transaction's epoch is refused and leaves no transaction
// open; an empty abort is allowed; Produce v11 keeps part 1's check.
func TestTransactionsImplicitAdd(t *testing.T) {
	b := brokertest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "implicit", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const id = "tx-implicit"
	pid, epoch := initTxnProducer(ctx, t, cl, id)
	if code := txnProduceRaw(ctx, t, cl, id, "implicit", 0, pid, epoch, 0, 12); code != 0 {
		t.Fatalf("Produce v12 without AddPartitionsToTxn: %v", kerr.ErrorForCode(code))
	}
	if _, _, state := describeTxn(ctx, t, cl, id); state != "Ongoing" {
		t.Fatalf("after the first produce: state %s, want Ongoing", state)
	}
	end := func(epoch int16, commit bool) (int64, int16) {
		t.Helper()
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
		for {
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Version != 5 {
				t.Fatalf("EndTxn went as v%d, want v5", resp.Version)
			}
			if resp.ErrorCode == 0 {
				return resp.ProducerID, resp.ProducerEpoch
			}
			if resp.ErrorCode != kerr.ConcurrentTransactions.Code {
				t.Fatalf("EndTxn(epoch %d, commit %v): %v", epoch, commit, kerr.ErrorForCode(resp.ErrorCode))
			}
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(50 * time.Millisecond): // a client's retry backoff
			}
		}
	}
	gotPID, next := end(epoch, true)
	if gotPID != pid || next != epoch+1 {
		t.Fatalf("EndTxn v5 answered producer %d epoch %d, want %d epoch %d", gotPID, next, pid, epoch+1)
	}
	// Once the marker (at the bumped epoch) is in and the transaction
	// complete, a late batch of it cannot open another that nobody ends.
	closed := func() bool {
		prods := partitionProducers(ctx, t, cl, "implicit", 0)
		return len(prods) == 1 && prods[0].ProducerEpoch == int32(next) && prods[0].CurrentTxnStartOffset == -1
	}
	waitFor(t, 30*time.Second, fmt.Sprintf("the marker at epoch %d, no transaction open, the commit complete", next), func() bool {
		_, _, state := describeTxn(ctx, t, cl, id)
		return state == "CompleteCommit" && closed()
	})
	if code := txnProduceRaw(ctx, t, cl, id, "implicit", 0, pid, epoch, 1, 12); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("late batch of the old epoch: %v, want INVALID_PRODUCER_EPOCH", kerr.ErrorForCode(code))
	}
	if !closed() {
		t.Fatalf("the late batch opened a transaction: %+v", partitionProducers(ctx, t, cl, "implicit", 0))
	}
	// The next transaction at the new epoch, aborted; then an empty abort.
	if code := txnProduceRaw(ctx, t, cl, id, "implicit", 0, pid, next, 0, 12); code != 0 {
		t.Fatalf("Produce v12 of the next transaction: %v", kerr.ErrorForCode(code))
	}
	if _, e := end(next, false); e != next+1 {
		t.Fatalf("abort answered epoch %d, want %d", e, next+1)
	}
	if _, e := end(next+1, false); e != next+2 {
		t.Fatalf("empty abort answered epoch %d, want %d", e, next+2)
	}
	// Produce v11 (part 1): the partition must have been added.
	v11 := newClient(t, b.Addr(), kgo.MaxVersions(maxVersion(kmsg.Produce, 11)))
	if code := txnProduceRaw(ctx, t, v11, id, "implicit", 0, pid, next+2, 0, 11); code != kerr.InvalidTxnState.Code {
		t.Fatalf("Produce v11 to a partition not added: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}
}

// TestWriteTxnMarkersCoordinatorFenced: a partition refuses a marker from
// an older coordinator epoch than the last marker's for the producer
// (TRANSACTION_COORDINATOR_FENCED): a deposed coordinator's late marker.
func TestWriteTxnMarkersCoordinatorFenced(t *testing.T) {
	b := brokertest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "fenced-markers", 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	marker := func(coordinatorEpoch int32) int16 {
		t.Helper()
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = 4242, 0, false, coordinatorEpoch
		m.Topics = []kmsg.WriteTxnMarkersRequestMarkerTopic{{Topic: "fenced-markers", Partitions: []int32{0}}}
		req.Markers = append(req.Markers, m)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Markers[0].Topics[0].Partitions[0].ErrorCode
	}
	for _, c := range []struct {
		epoch int32
		want  int16
	}{{7, 0}, {6, kerr.TransactionCoordinatorFenced.Code}, {7, 0}, {8, 0}, {7, kerr.TransactionCoordinatorFenced.Code}} {
		if code := marker(c.epoch); code != c.want {
			t.Fatalf("marker from coordinator epoch %d: %v, want %v", c.epoch, kerr.ErrorForCode(code), kerr.ErrorForCode(c.want))
		}
	}
}

// TestTransactionsFranzGoVersion1: a client that does not use transaction
// version 2 (franz-go capped at EndTxn v4) keeps the part 1 protocol: it
// adds its partitions itself and its epoch stays across transactions.
func TestTransactionsFranzGoVersion1(t *testing.T) {
	const id = "tx-tv1"
	b, admin, p := startTxnClient(t, "tv1-out", id, kgo.MaxVersions(maxVersion(kmsg.EndTxn, 4)))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i, commit := range []bool{true, false, true} {
		txnProduce(t, p, "tv1-out", fmt.Sprintf("t%d", i), 9, commit)
		if _, epoch, _ := describeTxn(ctx, t, admin, id); epoch != 0 {
			t.Fatalf("after transaction %d: epoch %d, want 0 throughout", i+1, epoch)
		}
	}
	got := consumeValues(t, b.Addr(), "tv1-out", true, 18, time.Second)
	if len(got) != 18 {
		t.Fatalf("read_committed saw %d distinct records, want the 18 committed: %v", len(got), got)
	}
	if n := scrape(t, b.AdminAddr())[`riffle_kafka_requests_total{api="AddPartitionsToTxn"}`]; n < 3 {
		t.Fatalf("%v AddPartitionsToTxn served, want one per transaction at least", n)
	}
}

package chaos

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/benchmarks/chaos/check"
)

// Transactional workload: each transaction writes txnRecords records, one
// to each of consecutive partitions of the transactional topic, and every
// txnAbortEvery-th is aborted on purpose.
const (
	txnRecords    = 3
	txnAbortEvery = 5 // the 2nd, 7th, 12th... so a short run has one
	txnInterval   = 100 * time.Millisecond
	// txnEndTimeout bounds one EndTransaction; the outcome of one cut
	// short is unknown, as it is after any error.
	txnEndTimeout = 60 * time.Second
	// txnEndID is the transactional id of the last transaction, written
	// after the others ended: a read_committed reader that reads it has
	// passed every earlier transaction (its LSO moved past them).
	txnEndID = "chaos-txn-end"
)

// committedReader names the read_committed reader of the transactional
// topic.
const committedReader = "committed-0"

func (r *recorder) txn(t check.Txn) {
	r.add(func(h *check.History) { h.Txns = append(h.Txns, t) })
}

func (r *recorder) txnRead(rd check.Read) {
	r.add(func(h *check.History) { h.TxnReads = append(h.TxnReads, rd) })
}

func (c *clients) newTxnClient(id string) (*kgo.Client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds...), kgo.TransactionalID(id),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordDeliveryTimeout(30*time.Second))
	if err != nil {
		return nil, fmt.Errorf("transactional producer %s: %w", id, err)
	}
	return cl, nil
}

// transact runs transactions until ctx ends, each recorded with its
// outcome. A client an error left in doubt is replaced by a new one with
// the same transactional id, whose InitProducerId fences the old epoch.
func (c *clients) transact(ctx context.Context, idx int) {
	id := fmt.Sprintf("chaos-txn-%d", idx)
	var cl *kgo.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	tick := time.NewTicker(txnInterval)
	defer tick.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if cl == nil {
			var err error
			if cl, err = c.newTxnClient(id); err != nil {
				c.r.failed(err)
				continue
			}
		}
		abort := seq%txnAbortEvery == 1
		if _, ok := c.oneTxn(cl, id, seq, txnRecords, abort); !ok {
			cl.Close()
			cl = nil
		}
	}
}

// oneTxn writes n records in one transaction and commits it (or aborts it)
// and records it with its outcome; false means cl is no longer usable.
// The transaction is never cut short by the run's end (its context is
// not the run's), so the outcome is what the cluster answered.
func (c *clients) oneTxn(cl *kgo.Client, id string, seq, n int, abort bool) (string, bool) {
	if err := cl.BeginTransaction(); err != nil {
		c.r.failed(err)
		return "", false
	}
	t := check.Txn{ID: fmt.Sprintf("%s/%d", id, seq)}
	var recs []*kgo.Record
	for i := range n {
		p := int32((seq*n + i) % c.cfg.partitions)
		v := fmt.Sprintf("%s-%08d-%d", id, seq, i)
		t.Records = append(t.Records, check.TxnWrite{Partition: p, Value: v})
		recs = append(recs, &kgo.Record{Topic: c.cfg.txnTopic, Partition: p, Value: []byte(v)})
	}
	end := kgo.TryCommit
	if abort {
		end = kgo.TryAbort
	}
	// Delivery times out on its own (RecordDeliveryTimeout).
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		c.r.failed(err)
		end = kgo.TryAbort
	}
	ctx, cancel := context.WithTimeout(context.Background(), txnEndTimeout)
	defer cancel()
	err := cl.EndTransaction(ctx, end)
	t.Time = time.Now()
	ok := true
	switch {
	case err == nil && end == kgo.TryCommit:
		t.Outcome = check.Committed
	case err == nil:
		t.Outcome = check.Aborted
	default:
		c.r.failed(err)
		t.Outcome = check.Unknown
		// franz-go's recovery: abort again, which reloads the producer
		// id and fences what is still open. After a failed commit the
		// outcome stays unknown: the commit may have gone through.
		if aerr := cl.EndTransaction(ctx, kgo.TryAbort); aerr != nil {
			ok = false
		} else if end == kgo.TryAbort {
			t.Outcome = check.Aborted
		}
	}
	c.r.txn(t)
	return t.Outcome, ok
}

// endTransactions writes the last transaction, one record in every
// partition, retrying a few times until one commits; after
// stopProducing, so every other transaction has ended.
func (c *clients) endTransactions() {
	if c.cfg.txnProducers == 0 {
		return
	}
	var cl *kgo.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for seq := range 3 {
		if cl == nil {
			var err error
			if cl, err = c.newTxnClient(txnEndID); err != nil {
				c.r.failed(err)
				return
			}
		}
		outcome, ok := c.oneTxn(cl, txnEndID, seq, c.cfg.partitions, false)
		if outcome == check.Committed {
			return
		}
		if !ok {
			cl.Close()
			cl = nil
		}
	}
}

// txnCaughtUp reports nil once the read_committed reader has read every
// committed transaction's records.
func txnCaughtUp(r *recorder) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	read := map[string]bool{}
	for _, rd := range r.hist.TxnReads {
		read[rd.Value] = true
	}
	for _, t := range r.hist.Txns {
		if t.Outcome != check.Committed {
			continue
		}
		for _, w := range t.Records {
			if !read[w.Value] {
				return fmt.Errorf("%s has not read %s of committed transaction %s", committedReader, w.Value, t.ID)
			}
		}
	}
	return nil
}

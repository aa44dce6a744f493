package segment

import "sort"

// Transactions under cleaning, as Kafka's cleaner treats them (KIP-98):
//
//   - records of aborted transactions go (their batches dropped, or
//     emptied where a batch must stay);
//   - committed transactional records are cleaned like any others;
//   - a marker (control batch) stays while a batch of its transaction was
//     seen earlier in the same clean, which starts at the log's first
//     segment: the clean that removes a transaction's data keeps its
//     marker, and a later one removes the marker once its segment is past
//     delete.retention.ms, as a tombstone (Kafka's two passes). A
//     replay of the log therefore never meets transactional data without
//     its marker (an open transaction that would hold the LSO back);
//   - nothing at or above the last stable offset is cleaned (the open
//     transactions), as nothing is above it.
//
// Which transactions were aborted is the partition's knowledge (its
// .txnindex), handed in with the limits.

// AbortedTxn is an aborted transaction of a partition: its producer, its
// first offset and the offset of its abort marker.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64
}

// cleanTxns follows the transactions through one clean, in offset order.
type cleanTxns struct {
	aborted map[int64][]AbortedTxn // by producer, in marker order
	// seen: producers whose current transaction has a batch earlier in
	// this clean.
	seen map[int64]bool
	// forget: abort markers met whose transaction had no batch left, for
	// the partition to drop from its aborted transactions.
	forget []int64
}

func newCleanTxns(aborted []AbortedTxn) *cleanTxns {
	t := &cleanTxns{aborted: map[int64][]AbortedTxn{}, seen: map[int64]bool{}}
	for _, a := range aborted {
		t.aborted[a.ProducerID] = append(t.aborted[a.ProducerID], a)
	}
	for _, as := range t.aborted {
		sort.Slice(as, func(i, j int) bool { return as[i].LastOffset < as[j].LastOffset })
	}
	return t
}

// abortedAt is the aborted transaction of the producer spanning offset.
func (t *cleanTxns) abortedAt(producerID, offset int64) (AbortedTxn, bool) {
	as := t.aborted[producerID]
	i := sort.Search(len(as), func(i int) bool { return as[i].LastOffset >= offset })
	if i < len(as) && as[i].FirstOffset <= offset {
		return as[i], true
	}
	return AbortedTxn{}, false
}

// isAbortedData reports whether h is a batch of an aborted transaction.
func (t *cleanTxns) isAbortedData(h BatchHeader) bool {
	if h.Attributes&(AttrTransactional|AttrControl) != AttrTransactional {
		return false
	}
	_, ok := t.abortedAt(h.ProducerID, h.BaseOffset)
	return ok
}

// fate decides a batch's fate by its transaction, or ok false when its
// records decide (a batch outside transactions, or a committed one).
// expired: the batch's segment is past delete.retention.ms.
func (t *cleanTxns) fate(h BatchHeader, mustStay, expired bool) (fate batchKeep, ok bool) {
	switch {
	case h.Attributes&AttrControl != 0:
		seen := t.seen[h.ProducerID]
		delete(t.seen, h.ProducerID)
		if a, aborted := t.abortedAt(h.ProducerID, h.BaseOffset); aborted && a.LastOffset == h.BaseOffset && !seen {
			t.forget = append(t.forget, h.BaseOffset)
		}
		// A control batch is never emptied: its record is the marker.
		if seen || mustStay || !expired {
			return keepWhole, true
		}
		return keepNone, true
	case h.Attributes&AttrTransactional == 0:
		return 0, false
	}
	t.seen[h.ProducerID] = true
	if !t.isAbortedData(h) {
		return 0, false
	}
	if mustStay {
		return keepSome, true // no records kept: an empty batch
	}
	return keepNone, true
}

// takeForget returns and clears the abort markers to forget.
func (t *cleanTxns) takeForget() []int64 {
	f := t.forget
	t.forget = nil
	return f
}

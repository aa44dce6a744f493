package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"slices"
	"testing"

	"github.com/riffle/riffle/segment"
	"github.com/riffle/riffle/segment/vfs"
)

// txnBatch is a transactional batch of n records.
func txnBatch(pid int64, epoch int16, seq int32, n int) segment.Batch {
	return batchOf(segment.BatchSpec{BaseTimestamp: 1000, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq,
		Attributes: segment.AttrTransactional}, n)
}

func (h *harness) mustMarker(pid int64, epoch int16, commit bool, wantOffset int64) {
	h.t.Helper()
	res, err := h.p.AppendMarker(pid, epoch, commit, 3, 2000)
	if err != nil || res.BaseOffset != wantOffset {
		h.t.Fatalf("marker for %d: %+v, %v; want offset %d", pid, res, err, wantOffset)
	}
}

func (h *harness) wantStable(lso int64, from int64, aborted []AbortedTxn) {
	h.t.Helper()
	if got := h.p.LastStableOffset(); got != lso {
		h.t.Fatalf("LSO %d, want %d (HW %d)", got, lso, h.p.HighWatermark())
	}
	_, rr := h.readBatches(from, ReadCommitted)
	if rr.LastStable != lso || !slices.Equal(rr.Aborted, aborted) {
		h.t.Fatalf("read_committed from %d: LSO %d aborted %v, want %d %v", from, rr.LastStable, rr.Aborted, lso, aborted)
	}
}

func TestTransactionsLSOAndAborted(t *testing.T) {
	h := newHarness(t, nil)
	h.mustAppend(plain(2), 0, false)             // 0-1
	h.mustAppend(txnBatch(7, 0, 0, 2), 2, false) // 2-3, producer 7 opens
	h.mustAppend(txnBatch(8, 0, 0, 1), 4, false) // 4, producer 8 opens
	h.mustAppend(txnBatch(7, 0, 2, 1), 5, false) // 5
	h.wantStable(2, 0, []AbortedTxn{})
	hdrs, _ := h.readBatches(0, ReadCommitted)
	if len(hdrs) != 1 {
		t.Fatalf("read_committed returned %d batches below LSO 2, want 1", len(hdrs))
	}
	h.mustMarker(7, 0, false, 6) // abort 7: LSO moves to 8's first offset
	h.wantStable(4, 0, []AbortedTxn{{7, 2, 6, 4}})
	h.mustMarker(8, 0, true, 7) // commit 8: nothing open
	h.wantStable(8, 0, []AbortedTxn{{7, 2, 6, 4}})
	h.wantStable(8, 7, []AbortedTxn{})
	if _, err := h.p.AppendMarker(7, 0, true, 3, 2000); err != nil {
		t.Fatalf("marker of the same epoch again: %v", err)
	}
	// A marker with a newer epoch fences the old one and restarts sequences.
	h.mustMarker(8, 1, false, 9)
	if _, err := h.p.AppendAsLeader(txnBatch(8, 0, 1, 1), -1, -1); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch after fencing marker: %v", err)
	}
	if _, err := h.p.AppendMarker(8, 0, true, 3, 2000); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("marker of an old epoch: %v", err)
	}
	if _, err := h.p.AppendAsLeader(txnBatch(8, 1, 4, 1), -1, -1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("new epoch not at sequence 0: %v", err)
	}
	h.mustAppend(txnBatch(8, 1, 0, 1), 10, false) // open again
	h.wantStable(10, 0, []AbortedTxn{{7, 2, 6, 4}})

	// The state is rebuilt from the log on open, clean or not, and so is
	// the index, Kafka's layout.
	wantIndex := appendTxnIndexEntry(nil, AbortedTxn{7, 2, 6, 4})
	if len(wantIndex) != txnIndexEntrySize || binary.BigEndian.Uint64(wantIndex[2:]) != 7 || binary.BigEndian.Uint64(wantIndex[26:]) != 4 {
		t.Fatalf("index entry %x", wantIndex)
	}
	for _, clean := range []bool{true, false} {
		path := txnIndexPath(h.p.Log().Dir(), 0)
		if got, err := vfs.ReadFile(h.p.Log().FS(), path); err != nil || !bytes.Equal(got, wantIndex) {
			t.Fatalf("%s: %x, %v; want %x", path, got, err, wantIndex)
		}
		// A stale index (a crash between log and index) is rewritten.
		if err := vfs.WriteFile(h.p.Log().FS(), path, append(slices.Clone(wantIndex), wantIndex...)); err != nil {
			t.Fatal(err)
		}
		h.restart(clean)
		h.wantStable(10, 0, []AbortedTxn{{7, 2, 6, 4}})
		if _, err := h.p.AppendAsLeader(txnBatch(8, 0, 2, 1), -1, -1); !errors.Is(err, ErrInvalidProducerEpoch) {
			t.Fatalf("old epoch after restart: %v", err)
		}
		if got, err := vfs.ReadFile(h.p.Log().FS(), path); err != nil || !bytes.Equal(got, wantIndex) {
			t.Fatalf("%s after open: %x, %v; want %x", path, got, err, wantIndex)
		}
	}
}

// The log cleaner reads the aborted transactions and has those it left
// without data forgotten, in memory and in the .txnindex files.
func TestCleanerForgetsAborts(t *testing.T) {
	h := newHarness(t, nil)
	h.mustAppend(txnBatch(7, 0, 0, 2), 0, false) // 0-1
	h.mustMarker(7, 0, false, 2)
	h.mustAppend(txnBatch(8, 0, 0, 1), 3, false)
	h.mustMarker(8, 0, false, 4)
	want := []segment.AbortedTxn{{ProducerID: 7, FirstOffset: 0, LastOffset: 2}, {ProducerID: 8, FirstOffset: 3, LastOffset: 4}}
	if got := h.p.AbortedTxns(); !slices.Equal(got, want) {
		t.Fatalf("aborted transactions %v, want %v", got, want)
	}
	h.p.ForgetAborts([]int64{2})
	h.wantStable(5, 0, []AbortedTxn{{8, 3, 4, 5}})
	if err := h.p.RewriteTxnIndexes(); err != nil {
		t.Fatal(err)
	}
	path := txnIndexPath(h.p.Log().Dir(), 0)
	if got, err := vfs.ReadFile(h.p.Log().FS(), path); err != nil || !bytes.Equal(got, appendTxnIndexEntry(nil, AbortedTxn{8, 3, 4, 5})) {
		t.Fatalf("%s: %x, %v", path, got, err)
	}
	h.p.ForgetAborts([]int64{4})
	if err := h.p.RewriteTxnIndexes(); err != nil {
		t.Fatal(err)
	}
	if _, err := vfs.ReadFile(h.p.Log().FS(), path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s with no aborted transaction: %v", path, err)
	}
}

// A marker from an older coordinator epoch than the producer's last one
// here is refused (a deposed coordinator's late marker), before and after
// a restart, whether the state comes from a snapshot or from replay.
func TestMarkerCoordinatorFencing(t *testing.T) {
	h := newHarness(t, nil)
	h.mustAppend(txnBatch(7, 0, 0, 1), 0, false)
	if _, err := h.p.AppendMarker(7, 0, true, 5, 2000); err != nil {
		t.Fatalf("marker at coordinator epoch 5: %v", err)
	}
	if _, err := h.p.AppendMarker(7, 0, false, 4, 2000); !errors.Is(err, ErrCoordinatorFenced) {
		t.Fatalf("marker at coordinator epoch 4 after 5: %v", err)
	}
	h.mustAppend(txnBatch(7, 1, 0, 1), 2, false)
	for _, clean := range []bool{true, false} {
		h.restart(clean)
		if _, err := h.p.AppendMarker(7, 1, false, 4, 2000); !errors.Is(err, ErrCoordinatorFenced) {
			t.Fatalf("marker at coordinator epoch 4 after restart (clean %v): %v", clean, err)
		}
	}
	if _, err := h.p.AppendMarker(7, 1, false, 6, 2000); err != nil {
		t.Fatalf("marker at coordinator epoch 6: %v", err)
	}
	if _, err := h.p.AppendMarker(7, 1, false, 5, 2000); !errors.Is(err, ErrCoordinatorFenced) {
		t.Fatalf("marker at coordinator epoch 5 after 6: %v", err)
	}
}

// A transaction is open for its own epoch only: a batch of the next epoch
// (KIP-890 part 2's bump) must be verified even before the marker lands.
func TestInTransaction(t *testing.T) {
	h := newHarness(t, nil)
	if h.p.InTransaction(7, 0) {
		t.Fatal("in transaction before any batch")
	}
	h.mustAppend(txnBatch(7, 0, 0, 1), 0, false)
	if !h.p.InTransaction(7, 0) || h.p.InTransaction(7, 1) || h.p.InTransaction(8, 0) {
		t.Fatalf("after a batch of epoch 0: %v %v %v", h.p.InTransaction(7, 0), h.p.InTransaction(7, 1), h.p.InTransaction(8, 0))
	}
	h.mustMarker(7, 1, true, 1)
	if h.p.InTransaction(7, 0) || h.p.InTransaction(7, 1) {
		t.Fatal("in transaction after its marker")
	}
	h.mustAppend(txnBatch(7, 1, 0, 1), 2, false)
	if !h.p.InTransaction(7, 1) {
		t.Fatal("not in the next transaction")
	}
}

package segment

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// fakeCleanerPartition is a partition's transaction state for the cleaner:
// its LSO and aborted transactions, in marker order.
type fakeCleanerPartition struct {
	lso     int64
	aborted []AbortedTxn
}

func (p *fakeCleanerPartition) LastStableOffset() int64   { return p.lso }
func (p *fakeCleanerPartition) AbortedTxns() []AbortedTxn { return slices.Clone(p.aborted) }
func (p *fakeCleanerPartition) RewriteTxnIndexes() error  { return nil }
func (p *fakeCleanerPartition) ForgetAborts(markers []int64) {
	p.aborted = slices.DeleteFunc(p.aborted, func(a AbortedTxn) bool { return slices.Contains(markers, a.LastOffset) })
}

// Control record types (KIP-98).
const (
	testMarkerAbort  = 0
	testMarkerCommit = 1
)

// txnHistory is a log written by transactional and plain producers, with
// the model a partition and a read_committed consumer would have.
type txnHistory struct {
	t     testing.TB
	rng   *rand.Rand
	l     *Log
	clock *fakeClock
	keys  int
	part  fakeCleanerPartition
	// committed: offset -> record, of plain and committed records.
	committed map[int64]modelRecord
	// abortedData: offsets of records of aborted transactions.
	abortedData map[int64]bool
	open        map[int64]*openTxn // producer id -> its open transaction
	seq         map[int64]int32
}

type openTxn struct {
	first   int64
	records map[int64]modelRecord
}

func newTxnHistory(t testing.TB, rng *rand.Rand, l *Log, clock *fakeClock, keys int) *txnHistory {
	return &txnHistory{t: t, rng: rng, l: l, clock: clock, keys: keys, committed: map[int64]modelRecord{},
		abortedData: map[int64]bool{}, open: map[int64]*openTxn{}, seq: map[int64]int32{}}
}

func (h *txnHistory) append(b []byte) AppendResult {
	h.t.Helper()
	res, err := h.l.Append(valid(b), 1)
	if err != nil {
		h.t.Fatal(err)
	}
	h.clock.Advance(time.Duration(h.rng.IntN(50)) * time.Millisecond)
	return res
}

// data appends a batch of random keyed records (tombstones included, any
// codec), transactional for producerID >= 0.
func (h *txnHistory) data(producerID int64) {
	recs := randomRecords(h.rng, h.keys)
	ts := h.clock.Ms()
	spec := BatchSpec{BaseTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	if producerID >= 0 {
		spec = BatchSpec{BaseTimestamp: ts, ProducerID: producerID, BaseSequence: h.seq[producerID], Attributes: AttrTransactional}
		h.seq[producerID] += int32(len(recs))
	}
	b := randomCodec(h.t, h.rng, EncodeBatch(nil, spec, recs))
	res := h.append(b)
	into := h.committed
	if producerID >= 0 {
		txn := h.open[producerID]
		if txn == nil {
			txn = &openTxn{first: res.BaseOffset, records: map[int64]modelRecord{}}
			h.open[producerID] = txn
		}
		into = txn.records
	}
	for i, r := range recs {
		into[res.BaseOffset+int64(i)] = modelRecord{r.Key, r.Value, ts + int64(i)}
	}
}

// end appends the marker ending the producer's open transaction.
func (h *txnHistory) end(producerID int64, commit bool) {
	typ := byte(testMarkerAbort)
	if commit {
		typ = testMarkerCommit
	}
	b := EncodeBatch(nil, BatchSpec{BaseTimestamp: h.clock.Ms(), ProducerID: producerID, BaseSequence: -1, Attributes: AttrTransactional | AttrControl},
		[]Record{{Key: []byte{0, 0, 0, typ}, Value: []byte{0, 0, 0, 0, 0, 1}}})
	res := h.append(b)
	txn := h.open[producerID]
	delete(h.open, producerID)
	for o, r := range txn.records {
		if commit {
			h.committed[o] = r
		} else {
			h.abortedData[o] = true
		}
	}
	if !commit {
		h.part.aborted = append(h.part.aborted, AbortedTxn{ProducerID: producerID, FirstOffset: txn.first, LastOffset: res.BaseOffset})
	}
}

// random appends batches: plain ones, and transactions of three
// producers, interleaved, committed or aborted at random.
func (h *txnHistory) random(batches int) {
	for range batches {
		pid := int64(h.rng.IntN(4)) - 1
		switch {
		case pid < 0:
			h.data(-1)
		case h.open[pid] != nil && h.rng.IntN(3) == 0:
			h.end(pid, h.rng.IntN(2) == 0)
		default:
			h.data(pid)
		}
	}
}

// endAll decides every open transaction.
func (h *txnHistory) endAll() {
	for _, pid := range slices.Sorted(func(yield func(int64) bool) {
		for pid := range h.open {
			if !yield(pid) {
				return
			}
		}
	}) {
		h.end(pid, h.rng.IntN(2) == 0)
	}
}

// stable is the LSO: the first offset of the oldest open transaction.
func (h *txnHistory) stable() int64 {
	lso := h.l.LogEndOffset()
	for _, txn := range h.open {
		lso = min(lso, txn.first)
	}
	return lso
}

func (h *txnHistory) clean(firstDirty int64) CleanResult {
	h.t.Helper()
	res, err := h.l.Clean(CleanLimits{FirstDirty: firstDirty, StableOffset: h.stable(), Aborted: h.part.AbortedTxns(),
		ForgetAborts: h.part.ForgetAborts, DedupeBufferBytes: 1 << 20})
	if err != nil {
		h.t.Fatal(err)
	}
	return res
}

// readCommitted reads the log as a read_committed consumer does (Kafka's
// consumer): the aborted transactions listed mark their producers aborted
// from their first offset until an abort marker; control batches and
// aborted transactional batches are skipped. It also replays the log as a
// partition does on open and fails if a transaction is left open (data
// without its marker: the LSO would be stuck).
func (h *txnHistory) readCommitted() [][]cleanRecord {
	h.t.Helper()
	hs, recs := storedRecords(h.t, h.l)
	pending := slices.Clone(h.part.aborted)
	slices.SortFunc(pending, func(a, b AbortedTxn) int { return int(a.FirstOffset - b.FirstOffset) })
	abortedPids, replayOpen := map[int64]bool{}, map[int64]bool{}
	var out [][]cleanRecord
	for i, bh := range hs {
		if bh.ProducerID >= 0 {
			for len(pending) > 0 && pending[0].FirstOffset <= bh.LastOffset() {
				abortedPids[pending[0].ProducerID] = true
				pending = pending[1:]
			}
		}
		switch {
		case bh.Attributes&AttrControl != 0:
			if len(recs[i]) != 1 || len(recs[i][0].key) != 4 {
				h.t.Fatalf("control batch at %d has %d records", bh.BaseOffset, len(recs[i]))
			}
			if binary.BigEndian.Uint16(recs[i][0].key[2:]) == testMarkerAbort {
				delete(abortedPids, bh.ProducerID)
			}
			delete(replayOpen, bh.ProducerID)
			continue
		case bh.Attributes&AttrTransactional != 0:
			replayOpen[bh.ProducerID] = true
			if abortedPids[bh.ProducerID] {
				continue
			}
		}
		out = append(out, recs[i])
	}
	for pid := range replayOpen {
		if h.open[pid] == nil {
			h.t.Fatalf("producer %d: transactional data without its marker", pid)
		}
	}
	return out
}

// abortedOnDisk counts the records of aborted transactions still stored
// below offset.
func (h *txnHistory) abortedOnDisk(below int64) int {
	_, recs := storedRecords(h.t, h.l)
	n := 0
	for _, rs := range recs {
		for _, r := range rs {
			if r.offset < below && h.abortedData[r.offset] {
				n++
			}
		}
	}
	return n
}

// Random histories of plain records and committed and aborted
// transactions, cleaned again and again with transactions open across the
// cleans: read_committed, the log is the committed records cleaned (each
// key's latest there), and a replay finds no transaction without its
// marker. Finally, past delete.retention.ms and two more cleans, no
// aborted record and no marker but a producer's last batch is left.
func TestCleanTransactionsModel(t *testing.T) {
	for seed := range uint64(underRace(6, 3)) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 14))
			e := newCompactEnv(t)
			d := e.open(t, nil)
			defer d.Close()
			h := newTxnHistory(t, rng, e.create(t, d, "t"), e.clock, 5+rng.IntN(30))
			firstDirty := int64(0)
			for range 10 {
				h.random(40 + rng.IntN(60))
				res := h.clean(firstDirty)
				if res.FirstDirty > h.stable() {
					t.Fatalf("cleaned to %d past the stable offset %d", res.FirstDirty, h.stable())
				}
				firstDirty = res.FirstDirty
				// Decided after the clean: a transaction open across it
				// must have been left alone.
				if rng.IntN(2) == 0 {
					h.endAll()
				}
				if len(h.open) == 0 {
					checkCleanedRecords(t, h.l, h.readCommitted(), h.committed, firstDirty, h.clock.Ms())
				}
			}
			h.endAll()
			checkCleanedRecords(t, h.l, h.readCommitted(), h.committed, firstDirty, h.clock.Ms())
			// Every segment rolled (segment.ms) and cleaned: the aborted
			// data goes.
			h.data(-1)
			e.clock.Advance(8 * 24 * time.Hour)
			if err := h.l.Tick(); err != nil {
				t.Fatal(err)
			}
			firstDirty = h.clean(firstDirty).FirstDirty
			if n := h.abortedOnDisk(h.l.LogEndOffset()); n > 0 {
				t.Fatalf("%d aborted records left after a clean of the whole log", n)
			}
			// A second clean removes the markers of transactions with no
			// data left, but a producer's last batch.
			h.data(-1)
			e.clock.Advance(8 * 24 * time.Hour)
			if err := h.l.Tick(); err != nil {
				t.Fatal(err)
			}
			firstDirty = h.clean(firstDirty).FirstDirty
			checkCleanedRecords(t, h.l, h.readCommitted(), h.committed, firstDirty, h.clock.Ms())
			hs, _ := storedRecords(t, h.l)
			last := map[int64]int64{}
			for _, bh := range hs {
				last[bh.ProducerID] = bh.BaseOffset
			}
			// A segment's last batch stays too (it keeps the segment's end).
			segmentEnd := map[int64]bool{}
			for _, base := range h.l.SegmentBases() {
				segmentEnd[base-1] = true
			}
			hasData := map[int64]bool{} // producer -> a batch of its transaction is stored
			for _, bh := range hs {
				switch {
				case bh.Attributes&AttrControl == 0:
					hasData[bh.ProducerID] = bh.Attributes&AttrTransactional != 0
				case !hasData[bh.ProducerID] && last[bh.ProducerID] != bh.BaseOffset && !segmentEnd[bh.BaseOffset] && bh.BaseOffset < firstDirty:
					t.Fatalf("marker at %d outlived its transaction's data and delete.retention.ms", bh.BaseOffset)
				default:
					hasData[bh.ProducerID] = false
				}
			}
			for _, a := range h.part.aborted {
				if a.LastOffset < firstDirty {
					t.Fatalf("aborted transaction %+v not forgotten though its data is gone", a)
				}
			}
		})
	}
}

package replica

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/segment"
)

// Control record types (the key's type field, KIP-98).
const (
	MarkerAbort  int16 = 0
	MarkerCommit int16 = 1
)

// AbortedTxn is one aborted transaction of a partition (Kafka's .txnindex
// entry): its producer, its first offset, the offset of its abort marker
// and the LSO once it was aborted.
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

// txnStates is a partition's transaction state, a pure machine fed with
// appended batch headers (and the marker type of control batches): the
// open transaction of each producer (its first offset) and the aborted
// transactions, in marker order. Readers take mu.RLock; the partition's
// append lock serialises the writers.
type txnStates struct {
	mu      sync.RWMutex
	ongoing map[int64]int64 // producer id -> first offset of its open transaction
	aborted []AbortedTxn    // ordered by LastOffset
}

func newTxnStates() *txnStates { return &txnStates{ongoing: map[int64]int64{}} }

// observe records an appended batch (offsets assigned). marker is the
// control record's type for a control batch, ignored otherwise. It
// returns the transaction an abort marker ended.
func (s *txnStates) observe(h segment.BatchHeader, marker int16) *AbortedTxn {
	switch {
	case h.Attributes&segment.AttrControl != 0:
		s.mu.Lock()
		defer s.mu.Unlock()
		first, open := s.ongoing[h.ProducerID]
		if !open {
			return nil // a marker for a transaction with no data here
		}
		delete(s.ongoing, h.ProducerID)
		if marker != MarkerAbort {
			return nil
		}
		lso := h.BaseOffset + 1
		for _, off := range s.ongoing {
			lso = min(lso, off)
		}
		s.aborted = append(s.aborted, AbortedTxn{ProducerID: h.ProducerID, FirstOffset: first, LastOffset: h.BaseOffset, LastStableOffset: lso})
		return &s.aborted[len(s.aborted)-1]
	case h.Attributes&segment.AttrTransactional != 0:
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, open := s.ongoing[h.ProducerID]; !open {
			s.ongoing[h.ProducerID] = h.BaseOffset
		}
	}
	return nil
}

// firstUnstable is the first offset of the oldest open transaction, or
// MaxInt64 without one: LSO = min(HW, firstUnstable).
func (s *txnStates) firstUnstable() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	first := int64(math.MaxInt64)
	for _, off := range s.ongoing {
		first = min(first, off)
	}
	return first
}

// abortedIn lists the aborted transactions with data in [from, upper):
// those whose marker is at or above from and whose first offset is below
// upper. A read_committed consumer drops their records.
func (s *txnStates) abortedIn(from, upper int64) []AbortedTxn {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, _ := slices.BinarySearchFunc(s.aborted, from, func(a AbortedTxn, off int64) int {
		switch {
		case a.LastOffset < off:
			return -1
		case a.LastOffset > off:
			return 1
		}
		return 0
	})
	out := []AbortedTxn{}
	for _, a := range s.aborted[i:] {
		if a.FirstOffset < upper {
			out = append(out, a)
		}
	}
	return out
}

// ongoingFirst is the first offset of the producer's open transaction.
func (s *txnStates) ongoingFirst(producerID int64) (int64, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	off, ok := s.ongoing[producerID]
	return off, ok
}

// forget drops the aborted transactions whose markers are at the given
// offsets.
func (s *txnStates) forget(markers []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.aborted = slices.DeleteFunc(s.aborted, func(a AbortedTxn) bool {
		_, found := slices.BinarySearch(markers, a.LastOffset)
		return found
	})
}

// evictBelow forgets aborted transactions wholly below logStart and
// reports whether there were any.
func (s *txnStates) evictBelow(logStart int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	for i < len(s.aborted) && s.aborted[i].LastOffset < logStart {
		i++
	}
	s.aborted = slices.Delete(s.aborted, 0, i)
	return i > 0
}

// parseMarker reads the type of a control batch's (first) record key and,
// for a transaction marker, the coordinator epoch in its value (-1 for
// other control records).
func parseMarker(batch []byte) (typ int16, coordinatorEpoch int32, err error) {
	if len(batch) <= segment.BatchHeaderSize {
		return 0, 0, fmt.Errorf("%w: control batch without records", segment.ErrCorruptBatch)
	}
	recs := batch[segment.BatchHeaderSize:]
	n, w := binary.Varint(recs)
	if w <= 0 || n < 0 || n > int64(len(recs)-w) {
		return 0, 0, fmt.Errorf("%w: control record length", segment.ErrCorruptBatch)
	}
	var r kmsg.Record
	if err := r.ReadFrom(recs[:w+int(n)]); err != nil {
		return 0, 0, fmt.Errorf("%w: control record: %v", segment.ErrCorruptBatch, err)
	}
	var k kmsg.ControlRecordKey
	if err := k.ReadFrom(r.Key); err != nil {
		return 0, 0, fmt.Errorf("%w: control record key: %v", segment.ErrCorruptBatch, err)
	}
	typ = int16(k.Type)
	if typ != MarkerAbort && typ != MarkerCommit {
		return typ, -1, nil
	}
	var v kmsg.EndTxnMarker
	if err := v.ReadFrom(r.Value); err != nil {
		return 0, 0, fmt.Errorf("%w: transaction marker value: %v", segment.ErrCorruptBatch, err)
	}
	return typ, v.CoordinatorEpoch, nil
}

// EncodeMarker builds a transaction marker: a control batch of one record
// with key (version 0, type) and value EndTxnMarker (version 0,
// coordinator epoch), transactional, of the producer's id and epoch.
func EncodeMarker(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32, timestampMs int64) []byte {
	key := kmsg.NewControlRecordKey()
	key.Type = kmsg.ControlRecordKeyType(MarkerAbort)
	if commit {
		key.Type = kmsg.ControlRecordKeyType(MarkerCommit)
	}
	val := kmsg.EndTxnMarker{CoordinatorEpoch: coordinatorEpoch}
	return segment.EncodeBatch(nil, segment.BatchSpec{
		BaseTimestamp: timestampMs, ProducerID: producerID, ProducerEpoch: producerEpoch, BaseSequence: -1,
		Attributes: segment.AttrTransactional | segment.AttrControl,
	}, []segment.Record{{Key: key.AppendTo(nil), Value: val.AppendTo(nil)}})
}

// loadTxns rebuilds the transaction state from the whole log (open
// transactions may start anywhere above the log start) and makes the
// .txnindex files agree with it.
func (p *Partition) loadTxns() (*txnStates, error) {
	s := newTxnStates()
	var buf []byte
	err := p.log.ScanBatches(p.log.LogStartOffset(), func(h segment.BatchHeader) error {
		if h.Attributes&segment.AttrTransactional == 0 {
			return nil
		}
		marker := int16(-1)
		if h.Attributes&segment.AttrControl != 0 {
			var err error
			if buf, err = p.readBatchAt(h, buf); err != nil {
				return err
			}
			if marker, _, err = parseMarker(buf); err != nil {
				return fmt.Errorf("marker at offset %d: %w", h.BaseOffset, err)
			}
		}
		s.observe(h, marker)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("replay transactions: %w", err)
	}
	if err := p.rewriteTxnIndexes(s); err != nil {
		return nil, err
	}
	return s, nil
}

// readBatchAt reads the batch of header h into buf.
func (p *Partition) readBatchAt(h segment.BatchHeader, buf []byte) ([]byte, error) {
	reg, err := p.log.Read(h.BaseOffset, int32(min(h.Size(), math.MaxInt32)), h.LastOffset()+1, true)
	if err != nil {
		return nil, fmt.Errorf("read batch at offset %d: %w", h.BaseOffset, err)
	}
	defer reg.Release()
	if reg.Len < h.Size() {
		return nil, fmt.Errorf("read batch at offset %d: %d of %d bytes", h.BaseOffset, reg.Len, h.Size())
	}
	buf = slices.Grow(buf[:0], int(h.Size()))[:h.Size()]
	if _, err := reg.File.ReadAt(buf, reg.Pos); err != nil {
		return nil, fmt.Errorf("read batch at offset %d: %w", h.BaseOffset, err)
	}
	return buf, nil
}

// observeTxnLocked feeds an appended batch to the transaction state and
// indexes an aborted transaction.
func (p *Partition) observeTxnLocked(h segment.BatchHeader, batch []byte) error {
	if h.Attributes&segment.AttrTransactional == 0 {
		return nil
	}
	marker := int16(-1)
	if h.Attributes&segment.AttrControl != 0 {
		var err error
		if marker, _, err = parseMarker(batch); err != nil {
			return err
		}
	}
	if a := p.txns.observe(h, marker); a != nil {
		if err := p.writeTxnIndexEntry(*a); err != nil {
			// The marker is in the log; the index is rebuilt from it on open.
			p.logger.Error("txn index append failed", "offset", h.BaseOffset, "err", err)
		}
	}
	return nil
}

// AppendMarker appends a commit or abort marker for the producer's
// transaction as the leader (WriteTxnMarkers). The marker's epoch must not
// be below the producer's (INVALID_PRODUCER_EPOCH otherwise: a newer
// coordinator decision wins). A marker with a newer epoch fences the
// producer's older epoch here too. A marker from a coordinator epoch
// older than the last one this partition saw for the producer is refused
// (ErrCoordinatorFenced): a deposed coordinator's late marker must not
// decide a transaction its successor decides. Like a produce, it does not
// wait for HW (WaitReplicated does).
func (p *Partition) AppendMarker(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32, nowMs int64) (AppendResult, error) {
	batch, err := segment.ValidateBatch(EncodeMarker(producerID, producerEpoch, commit, coordinatorEpoch, nowMs), math.MaxInt32)
	if err != nil {
		panic(fmt.Sprintf("replica: marker just encoded is invalid: %v", err))
	}
	return p.appendWith(func() (AppendResult, segment.Pending, error) {
		return p.appendMarkerLocked(batch, producerID, producerEpoch, coordinatorEpoch)
	})
}

func (p *Partition) appendMarkerLocked(batch segment.Batch, producerID int64, producerEpoch int16, coordinatorEpoch int32) (AppendResult, segment.Pending, error) {
	if p.closed {
		return AppendResult{}, segment.Pending{}, p.wrap(ErrClosed)
	}
	if !p.m.leader {
		return AppendResult{}, segment.Pending{}, p.wrap(fmt.Errorf("%w: marker to a follower", ErrNotLeader))
	}
	if e := p.producers.byID[producerID]; e != nil && producerEpoch < e.epoch {
		return AppendResult{}, segment.Pending{}, p.wrap(fmt.Errorf("%w: producer %d marker epoch %d, current %d",
			ErrInvalidProducerEpoch, producerID, producerEpoch, e.epoch))
	}
	if e := p.producers.byID[producerID]; e != nil && coordinatorEpoch < e.coordinatorEpoch {
		return AppendResult{}, segment.Pending{}, p.wrap(fmt.Errorf("%w: producer %d marker from coordinator epoch %d, last %d",
			ErrCoordinatorFenced, producerID, coordinatorEpoch, e.coordinatorEpoch))
	}
	res, sync, err := p.log.Write(batch, int32(p.m.epoch))
	if err != nil {
		return AppendResult{}, segment.Pending{}, p.wrap(err)
	}
	// The header as appended: offsets and epoch were rewritten in place.
	h, err := segment.ParseBatchHeader(batch.Bytes())
	if err != nil {
		panic(fmt.Sprintf("replica: marker just appended does not parse: %v", err))
	}
	p.producers.recordMarker(h, coordinatorEpoch)
	if err := p.observeTxnLocked(h, batch.Bytes()); err != nil {
		panic(fmt.Sprintf("replica: marker just encoded: %v", err))
	}
	p.bytesSinceSnapshot += h.Size()
	return AppendResult{AppendResult: res, LogStartOffset: p.log.LogStartOffset()}, sync, nil
}

// recordMarker notes a marker's epoch and coordinator epoch in the
// producer state: a newer epoch than the producer's starts a fresh history
// whose next batch must have sequence 0, and makes older epochs stale
// here; the coordinator epoch fences older coordinators' markers.
func (s *producerStates) recordMarker(h segment.BatchHeader, coordinatorEpoch int32) {
	e := s.byID[h.ProducerID]
	if e == nil || h.ProducerEpoch > e.epoch {
		s.record(producerBatch{producerID: h.ProducerID, epoch: h.ProducerEpoch,
			meta: batchMeta{firstSeq: -1, lastSeq: -1, firstOffset: h.BaseOffset, lastOffset: h.BaseOffset, maxTimestamp: h.MaxTimestamp}})
		e = s.byID[h.ProducerID]
	}
	e.coordinatorEpoch = max(e.coordinatorEpoch, coordinatorEpoch)
}

// LastStableOffset is the offset below which every transaction is decided
// (LSO): HW, or the first offset of the oldest open transaction if lower.
func (p *Partition) LastStableOffset() int64 {
	return min(p.highWatermark.Load(), p.txns.firstUnstable())
}

// AbortedTransactions lists the aborted transactions with records in
// [from, upper) (Fetch's AbortedTransactions for read_committed).
func (p *Partition) AbortedTransactions(from, upper int64) []AbortedTxn {
	return p.txns.abortedIn(from, upper)
}

// AbortedTxns lists every aborted transaction, for the log cleaner
// (segment.CleanerPartition).
func (p *Partition) AbortedTxns() []segment.AbortedTxn {
	p.txns.mu.RLock()
	defer p.txns.mu.RUnlock()
	out := make([]segment.AbortedTxn, len(p.txns.aborted))
	for i, a := range p.txns.aborted {
		out[i] = segment.AbortedTxn{ProducerID: a.ProducerID, FirstOffset: a.FirstOffset, LastOffset: a.LastOffset}
	}
	return out
}

// ForgetAborts drops the aborted transactions of the given abort markers,
// whose data the log cleaner removed: a read_committed consumer told of
// an aborted transaction with no marker left in range would skip the
// producer's next committed records (segment.CleanerPartition).
func (p *Partition) ForgetAborts(markerOffsets []int64) {
	markers := slices.Sorted(slices.Values(markerOffsets))
	p.txns.forget(markers)
}

// RewriteTxnIndexes makes the .txnindex files agree with the segments and
// the aborted transactions after a clean (segment.CleanerPartition).
func (p *Partition) RewriteTxnIndexes() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	return p.rewriteTxnIndexes(p.txns)
}

// InTransaction reports whether the producer has a transaction open here
// in epoch epoch: its transactional batches of that epoch need no
// verification with the coordinator. A batch of a newer epoch (KIP-890
// part 2 bumps the epoch at every transaction's end) belongs to the next
// transaction even while the last one's marker is still on its way.
func (p *Partition) InTransaction(producerID int64, epoch int16) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.producers.byID[producerID]
	_, open := p.txns.ongoingFirst(producerID)
	return open && e != nil && e.epoch == epoch
}

// AppendCoordinatorTxn appends, as the leader, a transactional batch a
// coordinator built for a producer (TxnOffsetCommit's offsets): like
// AppendAsLeader with acks=all's ISR check, but without sequence numbers
// (Kafka's coordinator writes none). A stale producer epoch is
// ErrInvalidProducerEpoch. It opens the producer's transaction here.
func (p *Partition) AppendCoordinatorTxn(batch segment.Batch) (AppendResult, error) {
	h := batch.Header()
	if h.Attributes&segment.AttrTransactional == 0 || h.ProducerID < 0 {
		return AppendResult{}, p.wrap(fmt.Errorf("%w: coordinator batch not transactional", segment.ErrCorruptBatch))
	}
	return p.appendWith(func() (AppendResult, segment.Pending, error) {
		return p.appendCoordinatorTxnLocked(batch, h)
	})
}

func (p *Partition) appendCoordinatorTxnLocked(batch segment.Batch, h segment.BatchHeader) (AppendResult, segment.Pending, error) {
	switch {
	case p.closed:
		return AppendResult{}, segment.Pending{}, p.wrap(ErrClosed)
	case !p.m.leader:
		return AppendResult{}, segment.Pending{}, p.wrap(fmt.Errorf("%w: coordinator append to a follower", ErrNotLeader))
	case !p.m.enoughReplicas():
		return AppendResult{}, segment.Pending{}, p.wrap(fmt.Errorf("%w: ISR has %d replicas, min.insync.replicas is %d",
			ErrNotEnoughReplicas, len(p.m.isr), p.m.minISR))
	}
	if e := p.producers.byID[h.ProducerID]; e != nil && h.ProducerEpoch < e.epoch {
		return AppendResult{}, segment.Pending{}, p.wrap(fmt.Errorf("%w: producer %d epoch %d, current %d",
			ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch))
	}
	res, sync, err := p.log.Write(batch, int32(p.m.epoch))
	if err != nil {
		return AppendResult{}, segment.Pending{}, p.wrap(err)
	}
	h.BaseOffset = res.BaseOffset
	p.txns.observe(h, -1)
	p.bytesSinceSnapshot += h.Size()
	return AppendResult{AppendResult: res, LogStartOffset: p.log.LogStartOffset()}, sync, nil
}

// ProducerState is one producer's state in a partition (DescribeProducers).
type ProducerState struct {
	ProducerID    int64
	ProducerEpoch int16
	LastSequence  int32 // -1 when its last entry is a marker
	LastTimestamp int64 // -1 when unknown
	// TxnStartOffset is the first offset of its open transaction, -1 none.
	TxnStartOffset int64
}

// Producers lists the producers this partition keeps state for, by id.
func (p *Partition) Producers() []ProducerState {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ProducerState, 0, len(p.producers.byID))
	for _, id := range p.producers.sortedIDs() {
		e := p.producers.byID[id]
		last := e.last()
		s := ProducerState{ProducerID: id, ProducerEpoch: e.epoch, LastSequence: last.lastSeq, LastTimestamp: last.maxTimestamp, TxnStartOffset: -1}
		if first, open := p.txns.ongoingFirst(id); open {
			s.TxnStartOffset = first
		}
		out = append(out, s)
	}
	return out
}

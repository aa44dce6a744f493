package replica

import (
	"fmt"
	"sync"

	"github.com/riffle/riffle/segment"
)

// Isolation selects the fetch upper bound.
type Isolation int8

const (
	ReadUncommitted Isolation = 0 // up to HW
	ReadCommitted   Isolation = 1 // up to LSO
	ReadReplica     Isolation = 2 // up to LEO (followers)
)

// ReadResult is one partition's fetch answer.
type ReadResult struct {
	Region         segment.Region // Release it once sent
	HighWatermark  int64
	LastStable     int64
	LogStartOffset int64
	// Aborted lists, for ReadCommitted, the aborted transactions with
	// records from the read offset up to LastStable.
	Aborted []AbortedTxn
}

// Read returns records from offset up to the isolation bound: the region
// starts at the batch containing offset and ends before the first batch at or
// above the bound. An offset between the bound and LEO gives an empty region;
// one below the log start or beyond LEO gives segment.ErrOffsetOutOfRange.
// HighWatermark and LastStable are those the bound was taken from. A
// follower refuses with ErrNotLeader: consumers read from the leader.
func (p *Partition) Read(offset int64, maxBytes int32, iso Isolation, minOneBatch bool, currentLeaderEpoch int32) (ReadResult, error) {
	return p.read(offset, maxBytes, iso, minOneBatch, currentLeaderEpoch, true)
}

// ReadNearest is Read for a consumer that may fetch from any replica
// (KIP-392, Kafka's fetchOnlyLeader false): a follower serves it too, up to
// its own HW, its leader epoch checked against the one it follows.
func (p *Partition) ReadNearest(offset int64, maxBytes int32, iso Isolation, minOneBatch bool, currentLeaderEpoch int32) (ReadResult, error) {
	if iso == ReadReplica {
		return ReadResult{}, p.wrap(fmt.Errorf("isolation level %d reads beyond HW", iso))
	}
	return p.read(offset, maxBytes, iso, minOneBatch, currentLeaderEpoch, false)
}

func (p *Partition) read(offset int64, maxBytes int32, iso Isolation, minOneBatch bool, currentLeaderEpoch int32, leaderOnly bool) (ReadResult, error) {
	if p.isClosed.Load() {
		return ReadResult{}, p.wrap(ErrClosed)
	}
	if err := p.CheckLeaderEpoch(currentLeaderEpoch); err != nil {
		return ReadResult{}, err
	}
	if leaderOnly && !p.IsLeader() {
		return ReadResult{}, p.wrap(fmt.Errorf("%w: consumer read", ErrNotLeader))
	}
	hw := p.highWatermark.Load()
	lso := min(hw, p.txns.firstUnstable())
	var upper int64
	switch iso {
	case ReadUncommitted:
		upper = hw
	case ReadCommitted:
		upper = lso
	case ReadReplica:
		upper = p.log.LogEndOffset()
	default:
		return ReadResult{}, p.wrap(fmt.Errorf("unknown isolation level %d", iso))
	}
	region, err := p.log.Read(offset, maxBytes, upper, minOneBatch)
	if err != nil {
		return ReadResult{}, p.wrap(fmt.Errorf("read at offset %d: %w", offset, err))
	}
	res := ReadResult{Region: region, HighWatermark: hw, LastStable: lso, LogStartOffset: p.log.LogStartOffset()}
	if iso == ReadCommitted {
		res.Aborted = p.txns.abortedIn(offset, lso)
	}
	return res, nil
}

// Watch registers ch to receive a non-blocking send whenever the readable end
// (HW) moves; cancel unregisters. A long-polling fetch registers before its
// read so that no move between the two goes unseen; a buffered ch of size 1
// then never misses one.
func (p *Partition) Watch(ch chan<- struct{}) (cancel func()) { return p.hwWatch.add(ch) }

// watchSet is a set of channels woken by a non-blocking send.
type watchSet struct {
	mu     sync.Mutex
	chans  map[uint64]chan<- struct{}
	nextID uint64
}

func (w *watchSet) add(ch chan<- struct{}) (cancel func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.chans == nil {
		w.chans = make(map[uint64]chan<- struct{})
	}
	id := w.nextID
	w.nextID++
	w.chans[id] = ch
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.chans, id)
	}
}

func (w *watchSet) notify() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.chans {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

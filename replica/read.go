package replica

import (
	"fmt"

	"github.com/riffle/riffle/segment"
)

// Isolation selects the fetch upper bound.
type Isolation int8

const (
	ReadUncommitted Isolation = 0 // up to HW
	ReadCommitted   Isolation = 1 // up to LSO (== HW without transactions)
	ReadReplica     Isolation = 2 // up to LEO (followers)
)

// ReadResult is one partition's fetch answer.
type ReadResult struct {
	Region         segment.Region // Release it once sent
	HighWatermark  int64
	LastStable     int64
	LogStartOffset int64
}

// Read returns records from offset up to the isolation bound: the region
// starts at the batch containing offset and ends before the first batch at or
// above the bound. An offset between the bound and LEO gives an empty region;
// one below the log start or beyond LEO gives segment.ErrOffsetOutOfRange.
// HighWatermark and LastStable are those the bound was taken from.
func (p *Partition) Read(offset int64, maxBytes int32, iso Isolation, minOneBatch bool, currentLeaderEpoch int32) (ReadResult, error) {
	if p.isClosed.Load() {
		return ReadResult{}, p.wrap(ErrClosed)
	}
	if err := p.CheckLeaderEpoch(currentLeaderEpoch); err != nil {
		return ReadResult{}, err
	}
	hw := p.highWatermark.Load()
	var upper int64
	switch iso {
	case ReadUncommitted, ReadCommitted:
		upper = hw
	case ReadReplica:
		upper = p.log.LogEndOffset()
	default:
		return ReadResult{}, p.wrap(fmt.Errorf("unknown isolation level %d", iso))
	}
	region, err := p.log.Read(offset, maxBytes, upper, minOneBatch)
	if err != nil {
		return ReadResult{}, p.wrap(fmt.Errorf("read at offset %d: %w", offset, err))
	}
	return ReadResult{Region: region, HighWatermark: hw, LastStable: hw, LogStartOffset: p.log.LogStartOffset()}, nil
}

// Watch registers ch to receive a non-blocking send whenever the readable end
// (HW) moves; cancel unregisters. A long-polling fetch registers before its
// read so that no move between the two goes unseen; a buffered ch of size 1
// then never misses one.
func (p *Partition) Watch(ch chan<- struct{}) (cancel func()) {
	p.watchMu.Lock()
	defer p.watchMu.Unlock()
	id := p.nextWatchID
	p.nextWatchID++
	p.watchers[id] = ch
	return func() {
		p.watchMu.Lock()
		defer p.watchMu.Unlock()
		delete(p.watchers, id)
	}
}

func (p *Partition) notifyWatchers() {
	p.watchMu.Lock()
	defer p.watchMu.Unlock()
	for _, ch := range p.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

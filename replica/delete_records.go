package replica

import (
	"fmt"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/segment"
)

// DeleteRecords raises the leader's log start to offset (DeleteRecords,
// Kafka's Partition.deleteRecordsOnLeader): -1 means HW; an offset above HW
// is ErrOffsetOutOfRange, one at or below the current log start changes
// nothing. Records below the new log start are unreadable at once; the
// finished segments wholly below it are deleted. It returns the log start
// (the low watermark) afterwards. The new log start is durable once the
// data dir's log-start checkpoint is next written, or at once where whole
// segments went, as after retention.
func (p *Partition) DeleteRecords(offset int64) (logStart int64, err error) {
	err = p.event(func() error {
		if p.closed {
			return ErrClosed
		}
		if !p.m.leader {
			return ErrNotLeader
		}
		hw := int64(p.m.hw)
		if offset == -1 {
			offset = hw
		}
		if offset < 0 || offset > hw {
			return fmt.Errorf("delete records below %d, high watermark %d: %w", offset, hw, segment.ErrOffsetOutOfRange)
		}
		if err := p.log.AdvanceLogStart(offset); err != nil {
			return err
		}
		logStart = p.log.LogStartOffset()
		p.producers.evictBelow(logStart)
		p.m.logStartMoved(ids.Offset(logStart))
		return nil
	})
	if err != nil {
		return -1, p.wrap(err)
	}
	return logStart, nil
}

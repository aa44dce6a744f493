package segment

import (
	"errors"
	"fmt"
)

// TruncateTo removes every record at or above offset, in whole batches: a
// batch holding offset goes entirely, so LEO becomes that batch's base
// offset (replica truncation offsets are batch boundaries). Later segments
// are deleted, the leader epoch cache is cut back, and the recovery point
// lowered. An offset below log start empties the log and restarts it there.
func (l *Log) TruncateTo(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if offset >= l.leo() {
		return nil
	}
	l.truncations++
	var err error
	if offset < l.logStart || offset <= l.segments[0].base {
		err = l.truncateFully(max(offset, 0))
	} else {
		err = l.truncateWithin(offset)
	}
	if err != nil {
		return fmt.Errorf("log %s: truncate to %d: %w", l.dir, offset, err)
	}
	if leo := l.leo(); l.recoveryPoint.Load() > leo {
		l.recoveryPoint.Store(leo)
	}
	if l.epochs.truncateFromEnd(l.leo()) {
		return l.saveEpochs()
	}
	return nil
}

func (l *Log) truncateFully(offset int64) error {
	doomed := l.segments
	if err := l.deleteSegments(doomed); err != nil {
		return err
	}
	s, err := createSegment(l.opts.FS, l.dir, offset, l.cfg, l.files)
	if err != nil {
		return err
	}
	s.rollStartMs = l.opts.nowMs()
	l.segments = []*segment{s}
	l.logStart = offset
	l.unsynced.dirDirty = true
	return nil
}

func (l *Log) truncateWithin(offset int64) error {
	i := l.segmentFor(offset)
	doomed := l.segments[i+1:]
	l.segments = l.segments[:i+1]
	s := l.segments[i]
	err := l.deleteSegments(doomed)
	if len(doomed) > 0 {
		// s was finished: it becomes the active segment again.
		err = errors.Join(err, s.activate(l.cfg))
		s.rollStartMs = l.opts.nowMs()
	}
	if err != nil {
		return err
	}
	return s.truncateTo(offset)
}

// truncateTo cuts the segment before the batch holding offset.
func (s *segment) truncateTo(offset int64) error {
	pos, h, ok, err := s.findBatch(offset)
	if err != nil || !ok {
		return err
	}
	if err := s.log.f.Truncate(pos); err != nil {
		return fmt.Errorf("segment %d: truncate to %d: %w", s.base, pos, err)
	}
	s.size = pos
	s.index.truncateFrom(pos)
	s.timeIndex.truncateFrom(h.BaseOffset)
	return s.loadTail()
}

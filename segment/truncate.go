package segment

import (
	"fmt"
	"slices"
)

// TruncateTo removes every record at or above offset, in whole batches: a
// batch holding offset goes entirely, so LEO becomes that batch's base
// offset (replica truncation offsets are batch boundaries). Later segments
// are deleted, the leader epoch cache is cut back (at LEO when offset is
// at or above it), and the recovery point lowered. An offset below log start empties the log and restarts it there.
//
// The truncation is durable when TruncateTo returns: later segments are
// removed durably, and the last segment's cut is synced before the leader
// epoch checkpoint drops the epochs of the removed batches, so power loss
// never brings back batches whose epochs the checkpoint no longer names.
// (Kafka leaves the cut to the next flush and has recovery re-assign the
// epochs of the batches it re-reads; open does that too, see loadEpochs,
// but that restores only epochs newer than the checkpoint's latest: a
// truncated-then-reused offset range could come back under a newer epoch's
// entry.) Truncations are rare, at leader changes, so the sync is cheap.
// On error the log still holds a prefix of what it held, but refuses
// further appends, as after a failed fdatasync.
func (l *Log) TruncateTo(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if offset >= l.leo() {
		// The epoch cache is cut back even so (Kafka's UnifiedLog.truncateTo):
		// a replica that led and appended nothing holds an epoch starting
		// at LEO that its new leader's log lacks, and would keep sending it
		// as its last fetched epoch.
		if l.epochs.truncateFromEnd(l.leo()) {
			return l.saveEpochsOrDefer()
		}
		return nil
	}
	l.truncations++
	var err error
	if offset < l.logStart || offset < l.segments[0].base {
		err = l.truncateFully(max(offset, 0))
	} else {
		err = l.truncateWithin(offset)
	}
	leo := l.leo()
	l.logStart = min(l.logStart, leo)
	l.recoveryPoint.Store(min(l.recoveryPoint.Load(), l.active().base))
	if l.epochs.truncateFromEnd(leo) && err == nil {
		// A stale checkpoint (full disk) is safe: its entries past the LEO
		// are dropped at the next open, and the next append rewrites it
		// first.
		err = l.saveEpochsOrDefer()
	}
	if err != nil {
		l.failed = fmt.Errorf("truncate to %d: %w", offset, err)
		return fmt.Errorf("log %s: %w", l.dir, l.failed)
	}
	return nil
}

// truncateFully empties the log and restarts it at offset, durably. The
// segment left last is replaced only once its replacement exists, so the
// log always has one.
func (l *Log) truncateFully(offset int64) error {
	if err := l.dropNewest(len(l.segments) - 1); err != nil {
		return err
	}
	old := l.segments[0]
	if old.base == offset {
		// Its files have the name a new segment would get: empty it instead.
		if err := old.reactivate(l.cfg, l.opts.nowMs()); err != nil {
			return err
		}
		if err := old.truncateTo(offset); err != nil {
			return err
		}
		l.logStart = offset
		return old.log.f.Sync()
	}
	s, err := createSegment(l.opts.FS, l.dir, offset, l.cfg, l.files)
	if err != nil {
		return err
	}
	if _, err := l.deleteSegments([]*segment{old}); err != nil {
		s.close()
		// Best effort: should its files stay, the next open keeps the
		// contiguous run from the first segment, the old log or this empty
		// one, either a state the log may be in.
		_ = l.removeSegmentFiles([]int64{offset})
		return err
	}
	s.rollStartMs = l.opts.nowMs()
	l.segments = []*segment{s}
	l.logStart = offset
	return l.opts.FS.SyncDir(l.dir)
}

func (l *Log) truncateWithin(offset int64) error {
	if err := l.dropNewest(len(l.segments) - 1 - l.segmentFor(offset)); err != nil {
		return err
	}
	s := l.active()
	if err := s.reactivate(l.cfg, l.opts.nowMs()); err != nil {
		return err
	}
	if err := s.truncateTo(offset); err != nil {
		return err
	}
	return s.log.f.Sync()
}

// dropNewest deletes the n newest segments, newest first, so that a failure
// leaves the log a prefix of what it was, and makes the deletion durable: a
// crash must not bring them back behind a segment that is then cut and
// appended to, where they could look like its continuation.
func (l *Log) dropNewest(n int) error {
	if n == 0 {
		return nil
	}
	doomed := slices.Clone(l.segments[len(l.segments)-n:])
	slices.Reverse(doomed)
	deleted, err := l.deleteSegments(doomed)
	l.segments = l.segments[:len(l.segments)-deleted]
	if err != nil {
		return err
	}
	return l.opts.FS.SyncDir(l.dir)
}

// reactivate makes a finished segment the active one again.
func (s *segment) reactivate(cfg Config, nowMs int64) error {
	if s.index.writable {
		return nil
	}
	s.rollStartMs = nowMs
	return s.activate(cfg)
}

// truncateTo cuts the segment before the batch holding offset.
func (s *segment) truncateTo(offset int64) error {
	pos, h, ok, err := s.findBatch(offset)
	if err != nil || !ok {
		return err
	}
	s.recent = nil
	if err := s.log.f.Truncate(pos); err != nil {
		return fmt.Errorf("segment %d: truncate to %d: %w", s.base, pos, err)
	}
	s.size = pos
	s.index.truncateFrom(pos)
	s.timeIndex.truncateFrom(h.BaseOffset)
	if err := s.loadTail(); err != nil {
		// Batches are contiguous: the cut batch's base is the end, whatever
		// loadTail managed to read.
		s.next = h.BaseOffset
		return err
	}
	return nil
}

// TruncateFullyAndStartAt empties the log and restarts it at offset, which
// may lie beyond LEO: a replica adopting a leader's snapshot, of records it
// does not hold, continues at the offset after it. The leader epoch cache
// is emptied. Durable when it returns. On error the log refuses further
// appends, as after a failed TruncateTo.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("log %s: truncate fully and start at %d: %w", l.dir, offset, ErrOffsetOutOfRange)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	l.truncations++
	err := l.truncateFully(offset)
	if err == nil && len(l.epochs.entries) > 0 {
		l.epochs = epochCache{}
		err = l.saveEpochs()
	}
	if err != nil {
		l.failed = fmt.Errorf("truncate fully and start at %d: %w", offset, err)
		return fmt.Errorf("log %s: %w", l.dir, l.failed)
	}
	l.recoveryPoint.Store(offset)
	return nil
}

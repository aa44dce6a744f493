package segment

import (
	"errors"
	"fmt"
	"io/fs"
)

// pendingDelete is a segment renamed to .deleted, unlinked once its delay
// has passed and no region or sync refers to its files.
type pendingDelete struct {
	paths []string
	files []*fileRef
	dueMs int64
}

// deleteSegments removes segs from the disk, in the order given: their
// files are renamed to .deleted at once and unlinked later. It stops at the
// first segment whose log file cannot be renamed, which stays intact and
// open, and returns how many it deleted, which the caller then drops from
// l.segments. An index file that cannot
// be renamed is left behind (the next open removes it, a segment created
// under its name resets it).
func (l *Log) deleteSegments(segs []*segment) (int, error) {
	due := l.opts.nowMs() + l.cfg.FileDeleteDelayMs
	var errs []error
	for i, s := range segs {
		name := segmentPath(l.dir, s.base, logSuffix)
		if err := l.opts.FS.Rename(name, name+deletedSuffix); err != nil {
			errs = append(errs, fmt.Errorf("log %s: delete segment %d: %w", l.dir, s.base, err))
			return i, errors.Join(errs...)
		}
		paths := []string{name + deletedSuffix}
		for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
			from := segmentPath(l.dir, s.base, suffix)
			if err := l.opts.FS.Rename(from, from+deletedSuffix); err != nil {
				errs = append(errs, fmt.Errorf("log %s: delete segment %d: %w", l.dir, s.base, err))
				continue
			}
			paths = append(paths, from+deletedSuffix)
		}
		l.pending = append(l.pending, pendingDelete{paths: paths, files: s.files(), dueMs: due})
		s.close()
		l.unsynced.dirDirty = true // the renames are durable at the next sync
	}
	return len(segs), errors.Join(errs...)
}

// unlinkDue unlinks the pending deletions whose time has come.
func (l *Log) unlinkDue(nowMs int64) error {
	kept := l.pending[:0]
	var errs []error
	for _, p := range l.pending {
		if nowMs < p.dueMs || !allClosed(p.files) {
			kept = append(kept, p)
			continue
		}
		for _, path := range p.paths {
			if err := l.opts.FS.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("log %s: unlink %s: %w", l.dir, path, err))
			}
		}
	}
	l.pending = kept
	return errors.Join(errs...)
}

func allClosed(files []*fileRef) bool {
	for _, f := range files {
		if !f.closed() {
			return false
		}
	}
	return true
}

// Tick runs time-driven work: roll by segment.ms, flush by flush.ms,
// retention, and unlinking of .deleted files whose delay has passed. The
// owner calls it periodically (every second or so); nothing else does.
func (l *Log) Tick() error {
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return err
	}
	nowMs := l.opts.nowMs()
	rolled := false
	if a := l.active(); a.size > 0 && nowMs-a.rollStartMs >= l.cfg.SegmentMs {
		err := l.noteWriteErr(l.roll())
		switch {
		case err == nil:
			rolled = true
		case !errors.Is(err, ErrNoSpace):
			l.mu.Unlock()
			return err
		}
		// On a full disk the roll is tried again by the next Tick or
		// append; retention below may free space meanwhile.
	}
	err := errors.Join(l.applyRetention(nowMs), l.unlinkDue(nowMs))
	flushDue := l.flushDueLocked(nowMs)
	wb, wbOff, wbLen := l.writebackRangeLocked()
	l.mu.Unlock()
	if wb != nil {
		err = errors.Join(err, l.startWriteback(wb, wbOff, wbLen))
	}
	if rolled || flushDue {
		err = errors.Join(err, l.Flush())
	}
	return err
}

// applyRetention deletes the oldest finished segments that are wholly below
// log start, older than retention.ms (by their largest timestamp) or beyond
// retention.bytes. The active segment always stays.
func (l *Log) applyRetention(nowMs int64) error {
	finished := l.segments[:len(l.segments)-1]
	n := 0
	for n < len(finished) && finished[n].next <= l.logStart {
		n++
	}
	if l.cfg.RetentionMs >= 0 {
		for n < len(finished) && nowMs-finished[n].maxTs > l.cfg.RetentionMs {
			n++
		}
	}
	if l.cfg.RetentionBytes >= 0 {
		excess := -l.cfg.RetentionBytes
		for _, s := range l.segments[n:] {
			excess += s.size
		}
		for n < len(finished) && excess >= finished[n].size {
			excess -= finished[n].size
			n++
		}
	}
	return l.dropOldest(n)
}

// dropOldest deletes the n oldest segments and moves log start past them.
func (l *Log) dropOldest(n int) error {
	if n == 0 {
		return nil
	}
	deleted, err := l.deleteSegments(l.segments[:n])
	l.segments = append(l.segments[:0:0], l.segments[deleted:]...)
	l.logStart = max(l.logStart, l.segments[0].base)
	if l.epochs.truncateFromStart(l.logStart) {
		err = errors.Join(err, l.saveEpochs())
	}
	return err
}

// AdvanceLogStart raises the log start offset (DeleteRecords, retention):
// reads below it fail with ErrOffsetOutOfRange and finished segments wholly
// below it are deleted at once. offset must not pass LEO.
func (l *Log) AdvanceLogStart(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if offset <= l.logStart {
		return nil
	}
	if leo := l.leo(); offset > leo {
		return fmt.Errorf("log %s: log start %d beyond LEO %d: %w", l.dir, offset, leo, ErrOffsetOutOfRange)
	}
	l.logStart = offset
	n := 0
	for n < len(l.segments)-1 && l.segments[n].next <= offset {
		n++
	}
	if n == 0 && l.epochs.truncateFromStart(offset) {
		return l.saveEpochs()
	}
	return l.dropOldest(n)
}

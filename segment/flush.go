package segment

import (
	"errors"
	"fmt"
	"time"
)

// unsyncedState is what the next fdatasync must cover beyond the segments
// at or above the recovery point. Guarded by the log's lock.
type unsyncedState struct {
	records  int64 // appended since the last sync began (flush.messages)
	sinceMs  int64 // clock of the oldest such append; -1 when none (flush.ms)
	dirDirty bool  // a segment file was created since the last directory sync
	// sealed are index files of segments finished since the last sync: a
	// finished segment's indexes are trusted after a crash once the
	// recovery point passes it, so they must be durable by then.
	sealed []*fileRef
}

func (u *unsyncedState) noteAppend(records, nowMs int64) int64 {
	if u.sinceMs < 0 {
		u.sinceMs = nowMs
	}
	u.records += records
	return u.records
}

func (u *unsyncedState) noteRoll(old *segment) {
	u.dirDirty = true
	u.sealed = append(u.sealed, old.index.ref.acquire(), old.timeIndex.ref.acquire())
}

// take hands the pending work to a sync about to start.
func (u *unsyncedState) take() (dirDirty bool, sealed []*fileRef) {
	dirDirty, sealed = u.dirDirty, u.sealed
	*u = unsyncedState{sinceMs: -1}
	return dirDirty, sealed
}

// Flush makes everything appended so far durable.
func (l *Log) Flush() error {
	return l.syncTo(l.LogEndOffset())
}

// FlushIfDue fdatasyncs the log when its oldest unsynced append is
// flush.ms old. The owner calls it more often than Tick (every 100 ms or
// so): paced by a one-second Tick, a flush.ms of 1000 came due only every
// second tick, so each fdatasync carried up to two seconds of data and
// stopped this VM longer (ack p99.9 8.5 and 12.8 ms vs 6.1 and 6.2 with
// one second per flush, 90 s pinned runs at 51 MB/s). A closed or failed
// log has nothing to flush; Tick and appends report it.
func (l *Log) FlushIfDue() error {
	l.mu.Lock()
	due := l.usable() == nil && l.flushDueLocked(l.opts.nowMs())
	l.mu.Unlock()
	if !due {
		return nil
	}
	return l.Flush()
}

// flushDueLocked reports whether unsynced data is flush.ms old. l.mu held.
func (l *Log) flushDueLocked(nowMs int64) bool {
	return l.unsynced.sinceMs >= 0 && nowMs-l.unsynced.sinceMs >= l.cfg.FlushMs
}

// flushInBackground makes everything appended so far durable on a
// goroutine of its own: a roll's sync of the sealed segment, which an
// append must not wait for (tens of ms to seconds of writeback, and the
// produce responses queued behind it on the connection). A failed sync
// fails the log as any other does. Called with l.mu held.
func (l *Log) flushInBackground() {
	l.background.Go(func() {
		if err := l.Flush(); err != nil && !errors.Is(err, ErrClosed) {
			l.opts.Logger.Error("segment: sync after roll", "dir", l.dir, "err", err)
		}
	})
}

// syncTo returns once every offset below target is durable (or truncated
// away). It is group commit: one fdatasync at a time per log, started
// outside the log's lock, and covering every append written before it
// started, so appenders waiting meanwhile share the next one.
func (l *Log) syncTo(target int64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	for l.recoveryPoint.Load() < target {
		if l.flushing {
			l.flushCond.Wait()
			continue
		}
		l.flushing = true
		l.flushMu.Unlock()
		end, err := l.syncOnce()
		l.flushMu.Lock()
		l.flushing = false
		l.flushCond.Broadcast()
		if err != nil {
			return err
		}
		if end < target { // truncated below target meanwhile
			return nil
		}
	}
	return nil
}

// syncOnce fdatasyncs every file that may hold data appended so far and
// raises the recovery point to the LEO seen at the start.
func (l *Log) syncOnce() (end int64, err error) {
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return 0, err
	}
	end = l.leo()
	truncations := l.truncations
	files := l.unsyncedFiles()
	dirDirty, sealed := l.unsynced.take()
	l.mu.Unlock()

	err = l.syncFiles(dirDirty, append(files, sealed...))

	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.failed = fmt.Errorf("fdatasync: %w", err)
		return 0, fmt.Errorf("log %s: %w", l.dir, l.failed)
	}
	if truncations == l.truncations {
		l.recoveryPoint.Store(max(l.recoveryPoint.Load(), end))
	}
	return end, nil
}

// unsyncedFiles references the log files of segments holding offsets at or
// above the recovery point.
func (l *Log) unsyncedFiles() []*fileRef {
	rp := l.recoveryPoint.Load()
	var files []*fileRef
	for _, s := range l.segments {
		if s.next > rp {
			files = append(files, s.log.acquire())
		}
	}
	return files
}

// syncAllLocked makes everything durable under the lock, for Close, which
// also needs the active segment's trimmed indexes durable.
func (l *Log) syncAllLocked() error {
	a := l.active()
	files := append(l.unsyncedFiles(), a.index.ref.acquire(), a.timeIndex.ref.acquire())
	dirDirty, sealed := l.unsynced.take()
	if err := l.syncFiles(dirDirty, append(files, sealed...)); err != nil {
		return err
	}
	l.recoveryPoint.Store(l.leo())
	return nil
}

// syncFiles fdatasyncs files, then the directory when dirDirty, releasing
// each file's reference. Files first: a rolled segment's data must be
// durable before the next segment's directory entry, or power loss in
// between leaves a durable segment after a hole.
func (l *Log) syncFiles(dirDirty bool, files []*fileRef) error {
	if l.opts.OnSync != nil {
		defer func(start time.Time) { l.opts.OnSync(time.Since(start)) }(time.Now())
	}
	var err error
	for _, f := range files {
		if err == nil {
			err = f.f.Sync()
		}
		f.release()
	}
	if err == nil && dirDirty {
		err = l.opts.FS.SyncDir(l.dir)
	}
	return err
}

// writebackMark is how far the kernel was asked to write the active segment
// out. Appends start writeback of every writebackChunk appended since, and
// Tick of whatever smaller rest there is, so that dirty pages never pile
// up: a burst of hundreds of MB makes the filesystem's next journal commit
// wait for all of it, and appends that grow the file wait for that commit
// (half-second produce stalls on ext4 at ~800 MB dirty).
type writebackMark struct {
	base int64 // the segment the mark refers to
	pos  int64
}

// writebackRangeLocked returns the active segment's file, referenced, and
// the range appended since the last call; nil when there is none. l.mu held.
func (l *Log) writebackRangeLocked() (ref *fileRef, off, n int64) {
	if n = l.unwrittenLocked(); n == 0 {
		return nil, 0, 0
	}
	off = l.writeback.pos
	l.writeback.pos += n
	return l.active().log.acquire(), off, n
}

// unwrittenLocked is how much the active segment holds past the writeback
// mark, first moving the mark to a new active segment (rolled, or
// truncated to one) or back to a truncated end. l.mu held.
func (l *Log) unwrittenLocked() int64 {
	a := l.active()
	switch {
	case l.writeback.base != a.base:
		l.writeback = writebackMark{base: a.base}
	case l.writeback.pos > a.size:
		l.writeback.pos = a.size
	}
	return a.size - l.writeback.pos
}

// startWriteback asks the kernel to write [off, off+n) of ref's file out,
// without waiting, and drops the reference.
func (l *Log) startWriteback(ref *fileRef, off, n int64) error {
	defer ref.release()
	for end := off + n; off < end; off += writebackChunk {
		if err := ref.f.StartWriteback(off, min(writebackChunk, end-off)); err != nil {
			return fmt.Errorf("log %s: start writeback of [%d, +%d): %w", l.dir, off, n, err)
		}
	}
	return nil
}

// writebackChunk is how much one call asks the kernel to write out.
const writebackChunk = 1 << 20

// writebackInBackground starts writeback of the active segment on a
// goroutine of its own once a writebackChunk has been appended since the
// last. Asked for once a second by Tick, a second's 50 MB came with a
// 10-35 ms ack stall at each second's turn with the broker on one CPU
// (the kernel does the block allocation and I/O set-up in the calling
// thread); asked for as the data comes, those stalls went. Called with
// l.mu held.
func (l *Log) writebackInBackground() {
	if l.unwrittenLocked() < writebackChunk || !l.writingBack.CompareAndSwap(false, true) {
		return
	}
	ref, off, n := l.writebackRangeLocked()
	l.background.Go(func() {
		defer l.writingBack.Store(false)
		if err := l.startWriteback(ref, off, n); err != nil {
			l.opts.Logger.Warn("segment: start writeback", "dir", l.dir, "err", err)
		}
	})
}

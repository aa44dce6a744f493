package segment

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/riffle/riffle/segment/vfs"
)

// Log is one partition's log: a directory of segments. Safe for concurrent
// use: appends and structural changes take the write lock, reads the read
// lock; fdatasync runs outside the lock (see flush.go).
type Log struct {
	dir   string
	opts  Options
	files *fileGroup // open files, for removing a deleted log's directory

	recoveryPoint atomic.Int64 // offsets below are durable

	mu       sync.RWMutex
	cfg      Config
	segments []*segment // ascending base offsets; the last is active; never empty
	logStart int64
	epochs   epochCache
	pending  []pendingDelete
	closed   bool
	failed   error // sticky: a failed fdatasync, seal or truncation stops appends
	// noSpace: the last append failed with ErrNoSpace. Only for logging
	// once per change; every append tries the disk again.
	noSpace bool
	// epochsStale: the leader-epoch checkpoint on disk is behind the cache
	// (a full disk at open); the next append writes it before its batch.
	epochsStale bool
	unsynced    unsyncedState
	writeback   writebackMark
	// writingBack is set while a goroutine started by an append asks the
	// kernel to write out the active segment's last writebackChunk.
	writingBack atomic.Bool
	// truncations counts TruncateTo calls, so that a sync racing one does
	// not raise the recovery point over offsets that were removed.
	truncations uint64

	flushMu   sync.Mutex
	flushCond *sync.Cond
	flushing  bool
	// background counts the flushes started by rolls and the writebacks
	// started by appends, which Close awaits.
	background sync.WaitGroup
}

// AppendResult describes an appended batch after offset assignment.
type AppendResult struct {
	BaseOffset    int64
	LastOffset    int64
	MaxTimestamp  int64
	LogAppendTime int64 // -1 unless the log stamps LogAppendTime
}

const epochCheckpointName = "leader-epoch-checkpoint"

func (l *Log) active() *segment { return l.segments[len(l.segments)-1] }
func (l *Log) leo() int64       { return l.active().next }

// segmentFor returns the index of the last segment whose base is <= offset
// (0 when offset is below every base).
func (l *Log) segmentFor(offset int64) int {
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].base > offset })
	return max(i-1, 0)
}

// Append assigns offsets to b by rewriting baseOffset and
// partitionLeaderEpoch in place (maxTimestamp, attributes and CRC for
// LogAppendTime) and appends it. The caller's bytes are modified.
// Durability is as the package doc states: Append is Write, then the
// Pending's Wait.
func (l *Log) Append(b Batch, leaderEpoch int32) (AppendResult, error) {
	res, sync, err := l.Write(b, leaderEpoch)
	if err == nil {
		err = sync.Wait()
	}
	return res, err
}

// Write is Append without waiting for the fdatasync the configuration asks
// for (SyncEveryAppend, flush.messages, a roll): it returns once the batch
// is in the page cache, and the batch is as durable as Append leaves it
// once the Pending's Wait returns nil. The log's lock covers offset
// assignment and the write, not the sync, so that a caller holding a lock
// of its own (a partition's append lock) can release it before waiting
// and concurrent appenders share one fdatasync (group commit).
func (l *Log) Write(b Batch, leaderEpoch int32) (AppendResult, Pending, error) {
	if b.b == nil {
		panic("segment: append of a Batch that ValidateBatch did not make")
	}
	l.mu.Lock()
	res, syncNeeded, err := l.appendLocked(b.b, []BatchHeader{b.h}, true, leaderEpoch)
	l.mu.Unlock()
	return res, l.pendingSync(res, syncNeeded, err), err
}

// WriteReplicated writes batches that already carry their offsets and
// epochs (the follower path); none may start below LEO (ErrOffsetMismatch),
// but one may start above it or above the batch before (a compacted
// leader's log has holes). It returns how many it wrote: on an error
// those before the failing one stay written. One Pending covers them all.
// Batches that lie end to end in memory (a fetch answer's, as
// ValidateBatches returns them) go to the file in one write where they fit
// the active segment and share a leader epoch: one system call, and no
// page tail zeroed per batch only to be overwritten by the next.
func (l *Log) WriteReplicated(batches []Batch) (int, Pending, error) {
	var sync Pending
	for n := 0; n < len(batches); {
		k, s, err := l.writeRun(batches[n:])
		if s.l != nil { // later batches end later
			sync = s
		}
		if err != nil {
			return n, sync, err
		}
		n += k
	}
	return len(batches), sync, nil
}

// writeRun writes the first batches of bs that form a run (at least one):
// adjacent in memory, each starting where the one before ends, in one
// leader epoch, and together fitting the active segment.
func (l *Log) writeRun(bs []Batch) (int, Pending, error) {
	l.mu.Lock()
	b, hs := runOf(bs, l.active(), l.cfg, l.opts.nowMs())
	res, syncNeeded, err := l.appendLocked(b, hs, false, 0)
	l.mu.Unlock()
	return len(hs), l.pendingSync(res, syncNeeded, err), err
}

// runOf returns the bytes and headers of the run at the start of bs.
func runOf(bs []Batch, active *segment, cfg Config, nowMs int64) ([]byte, []BatchHeader) {
	first := bs[0]
	run, hs := first.b, []BatchHeader{first.h}
	for _, next := range bs[1:] {
		prev := hs[len(hs)-1]
		if len(run) == cap(run) || &run[:len(run)+1][len(run)] != &next.b[0] ||
			next.h.BaseOffset != prev.LastOffset()+1 || next.h.PartitionLeaderEpoch != first.h.PartitionLeaderEpoch ||
			active.size+int64(len(run)+len(next.b)) > cfg.SegmentBytes || // fits takes anything into an empty segment
			!active.fits(int64(len(run)+len(next.b)), next.h.LastOffset(), cfg, nowMs) {
			break
		}
		run, hs = run[:len(run)+len(next.b)], append(hs, next.h)
	}
	return run, hs
}

// Pending is the fdatasync a Write still needs before its batches are as
// durable as the configuration asks; the zero Pending needs none.
type Pending struct {
	l   *Log
	end int64 // offsets below it must be durable
}

// pendingSync is the sync an append that wrote res still needs.
func (l *Log) pendingSync(res AppendResult, syncNeeded bool, err error) Pending {
	if err != nil || !syncNeeded {
		return Pending{}
	}
	return Pending{l: l, end: res.LastOffset + 1}
}

// Wait returns once the written batches are durable (or truncated away),
// sharing the fdatasync with every other writer waiting meanwhile.
func (p Pending) Wait() error {
	if p.l == nil {
		return nil
	}
	return p.l.syncTo(p.end)
}

// SyncPending is what an append ending before end that Write already
// answered still needs before it is acknowledged (a producer's retry of a
// batch appended moments ago): a sync up to end when every append is
// synced, nothing otherwise.
func (l *Log) SyncPending(end int64) Pending {
	if !l.Config().SyncEveryAppend {
		return Pending{}
	}
	return Pending{l: l, end: end}
}

// appendLocked writes validated batches laid end to end in b, hs their
// headers: one batch whose offsets it assigns when assign is set, else a
// run of replicated batches (runOf). syncNeeded asks the caller to
// fdatasync, outside the lock, before acknowledging.
func (l *Log) appendLocked(b []byte, hs []BatchHeader, assign bool, leaderEpoch int32) (res AppendResult, syncNeeded bool, err error) {
	if err := l.usable(); err != nil {
		return res, false, err
	}
	nowMs := l.opts.nowMs()
	leo := l.leo()
	res.LogAppendTime = -1
	first := &hs[0]
	if assign {
		SetBaseOffset(b, leo)
		SetPartitionLeaderEpoch(b, leaderEpoch)
		first.BaseOffset, first.PartitionLeaderEpoch = leo, leaderEpoch
		if l.cfg.LogAppendTime {
			SetLogAppendTime(b, nowMs)
			first.MaxTimestamp, first.Attributes = nowMs, first.Attributes|AttrLogAppendTime
			res.LogAppendTime = nowMs
		}
	} else if first.BaseOffset < leo {
		// Above LEO is a hole, as a compacted leader's log has.
		return res, false, fmt.Errorf("log %s: %w: base offset %d, LEO %d", l.dir, ErrOffsetMismatch, first.BaseOffset, leo)
	}
	last := hs[len(hs)-1]
	syncNeeded = l.cfg.SyncEveryAppend
	if !l.active().fits(int64(len(b)), last.LastOffset(), l.cfg, nowMs) {
		if err := l.roll(); err != nil {
			return res, false, l.noteWriteErr(err)
		}
		if l.cfg.RollSyncInline {
			syncNeeded = true
		} else {
			l.flushInBackground()
		}
	}
	// A new epoch is on disk before its first batch: a checkpoint naming an
	// epoch that has no batch yet is what AssignEpochStart writes anyway,
	// and a failed write (a full disk) leaves nothing to undo.
	if err := l.assignEpoch(first.PartitionLeaderEpoch, first.BaseOffset); err != nil {
		return res, false, l.noteWriteErr(err)
	}
	if err := l.active().append(b, hs, l.cfg, nowMs); err != nil {
		return res, false, l.noteWriteErr(fmt.Errorf("log %s: %w", l.dir, err))
	}
	l.noteWriteErr(nil)
	records := int64(0)
	for _, h := range hs {
		records += int64(h.RecordCount)
	}
	if l.unsynced.noteAppend(records, nowMs) >= l.cfg.FlushMessages {
		syncNeeded = true
	}
	l.writebackInBackground()
	res.BaseOffset, res.LastOffset, res.MaxTimestamp = first.BaseOffset, last.LastOffset(), last.MaxTimestamp
	return res, syncNeeded, nil
}

// noteWriteErr returns err, logging the changes of the disk-full state
// once each: the first ErrNoSpace, and the first write that succeeds (err
// nil) after it. Requests failing meanwhile log nothing here.
func (l *Log) noteWriteErr(err error) error {
	full := errors.Is(err, ErrNoSpace)
	switch {
	case full && !l.noSpace:
		l.opts.Logger.Warn("segment: disk full, appends fail until space returns", "dir", l.dir, "err", err)
	case err == nil && l.noSpace:
		l.opts.Logger.Info("segment: disk space returned, appends resume", "dir", l.dir)
	}
	if full || err == nil {
		l.noSpace = full
	}
	return err
}

// Err returns the failure that stopped appends to the log (a failed
// fdatasync, seal of a segment or truncation: ErrFailed), nil while it is
// healthy. The failure is sticky: the log takes appends again only when
// reopened. A full disk is not a failure (ErrNoSpace fails single appends).
func (l *Log) Err() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.failed == nil {
		return nil
	}
	return fmt.Errorf("log %s: %w: %w", l.dir, ErrFailed, l.failed)
}

func (l *Log) usable() error {
	if l.closed {
		return fmt.Errorf("log %s: %w", l.dir, ErrClosed)
	}
	if l.failed != nil {
		return fmt.Errorf("log %s: %w earlier: %w", l.dir, ErrFailed, l.failed)
	}
	return nil
}

// roll seals the active segment and starts a new one at LEO. The new one
// is made first: if that fails (ErrOpenFilesLimit, ErrNoSpace) nothing
// changed, and its files are removed. If sealing then fails, the log
// fails: the half-sealed segment takes no more appends.
func (l *Log) roll() error {
	old := l.active()
	s, err := createSegment(l.opts.FS, l.dir, old.next, l.cfg, l.files)
	if err != nil {
		// Best effort: a leftover empty segment is the last one, which the
		// next open takes as the active segment, or deletes as out of line.
		_ = l.removeSegmentFiles([]int64{old.next})
		return fmt.Errorf("log %s: roll: %w", l.dir, err)
	}
	if err := old.finish(); err != nil {
		s.close() // an empty file that the next open takes as the active segment
		l.failed = fmt.Errorf("roll: %w", err)
		return fmt.Errorf("log %s: %w", l.dir, l.failed)
	}
	s.rollStartMs = l.opts.nowMs()
	l.segments = append(l.segments, s)
	l.unsynced.noteRoll(old)
	return nil
}

// Read returns the region starting at the batch that contains offset, ending
// before the first batch whose base offset is >= upperOffset (HW or LSO), at
// most maxBytes long unless minOneBatch and the first batch is larger (then
// that whole batch). offset == LEO (or >= upperOffset) gives an empty region.
// offset below log start or beyond LEO gives ErrOffsetOutOfRange. A region
// never crosses a segment: read again at the next offset. Only batch headers
// are read.
func (l *Log) Read(offset int64, maxBytes int32, upperOffset int64, minOneBatch bool) (Region, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return Region{}, fmt.Errorf("log %s: %w", l.dir, ErrClosed)
	}
	if leo := l.leo(); offset < l.logStart || offset > leo {
		return Region{}, fmt.Errorf("log %s: read %d outside [%d, %d]: %w", l.dir, offset, l.logStart, leo, ErrOffsetOutOfRange)
	}
	if offset == l.leo() || offset >= upperOffset {
		return Region{}, nil
	}
	for _, s := range l.segments[l.segmentFor(offset):] {
		start, end, ok, err := s.region(offset, max(maxBytes, 0), upperOffset, minOneBatch)
		if err != nil {
			return Region{}, fmt.Errorf("log %s: read %d: %w", l.dir, offset, err)
		}
		switch {
		case !ok: // offset lies past this segment's batches: the next one
		case end == start:
			return Region{}, nil
		default:
			return Region{File: s.log.f, Pos: start, Len: end - start, ref: s.log.acquire()}, nil
		}
	}
	return Region{}, nil
}

// OffsetForTimestamp returns the first offset at or above log start whose
// timestamp >= ts and that record's timestamp; found is false when no such
// record exists. The records of the batch that holds it are read, and
// decompressed when compressed (at most 64 times max.message.bytes, as
// produce validation allows). Every record of a LogAppendTime batch carries
// the batch's max timestamp.
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, timestamp int64, found bool, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return -1, -1, false, fmt.Errorf("log %s: %w", l.dir, ErrClosed)
	}
	for _, s := range l.segments {
		if s.maxTs < ts {
			continue
		}
		offset, timestamp, found, err = s.offsetForTimestamp(ts, l.logStart, l.cfg.BatchBytesMax)
		if err != nil {
			return -1, -1, false, fmt.Errorf("log %s: offset for timestamp %d: %w", l.dir, ts, err)
		}
		if found {
			return offset, timestamp, true, nil
		}
	}
	return -1, -1, false, nil
}

// MaxTimestamp returns the offset and timestamp of the first record with the
// largest timestamp (ListOffsets -3); (-1, -1) when the log is empty. When
// that record's batch is compressed, or was seen by header only at open, the
// batch is read and decompressed to find it; if that fails the answer is
// the batch's last offset.
func (l *Log) MaxTimestamp() (offset int64, timestamp int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var top *segment
	for _, s := range l.segments {
		if s.size > 0 && (top == nil || s.maxTs > top.maxTs) {
			top = s
		}
	}
	if top == nil || top.maxTs < 0 {
		return -1, -1
	}
	return max(top.maxTimestampOffset(l.cfg.BatchBytesMax), l.logStart), top.maxTs
}

// ScanBatches calls fn with the header of every batch at or above log start
// whose last offset is >= from, in order, reading headers only. It holds no
// lock while fn runs; a concurrent TruncateTo may make it fail.
func (l *Log) ScanBatches(from int64, fn func(h BatchHeader) error) error {
	views, err := l.snapshotFrom(from)
	defer func() {
		for _, v := range views {
			v.log.release()
		}
	}()
	if err != nil {
		return err
	}
	for _, v := range views {
		var fnErr error
		err := v.scan(v.startPos, func(_ int64, h BatchHeader) bool {
			if h.LastOffset() >= from {
				fnErr = fn(h)
			}
			return fnErr == nil
		})
		if fnErr != nil {
			return fnErr
		}
		if err != nil {
			return fmt.Errorf("log %s: scan: %w", l.dir, err)
		}
	}
	return nil
}

// segmentView is a segment's log file as of a moment, for lock-free scans.
type segmentView struct {
	segment
	startPos int64
}

func (l *Log) snapshotFrom(from int64) ([]*segmentView, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, fmt.Errorf("log %s: %w", l.dir, ErrClosed)
	}
	from = max(from, l.logStart)
	var views []*segmentView
	for i := l.segmentFor(from); i < len(l.segments); i++ {
		s := l.segments[i]
		v := &segmentView{segment: segment{base: s.base, log: s.log.acquire(), size: s.size}}
		views = append(views, v)
		if len(views) > 1 {
			continue
		}
		// findBatch, not the index alone, which a damaged entry could mislead.
		pos, _, ok, err := s.findBatch(from)
		if err != nil {
			return views, fmt.Errorf("log %s: scan from %d: %w", l.dir, from, err)
		}
		v.startPos = pos
		if !ok {
			v.startPos = s.size
		}
	}
	return views, nil
}

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }

// FS is the filesystem the log lives on, for files kept beside its
// segments (producer-state snapshots).
func (l *Log) FS() vfs.FS { return l.opts.FS }

// LogStartOffset is the first readable offset.
func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logStart
}

// LogEndOffset (LEO) is the offset the next appended record gets.
func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.leo()
}

// RecoveryPoint is the offset below which everything is durable.
func (l *Log) RecoveryPoint() int64 { return l.recoveryPoint.Load() }

// SizeBytes is the total size of the log's segment files.
func (l *Log) SizeBytes() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segments {
		n += s.size
	}
	return n
}

// SegmentCount is the number of live segments.
func (l *Log) SegmentCount() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.segments)
}

// Config returns the log's config.
func (l *Log) Config() Config {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cfg
}

// SetConfig changes the log's config (topic config change). Index sizes
// apply from the next segment.
func (l *Log) SetConfig(c Config) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("log %s: %w", l.dir, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg = c
	return nil
}

// AssignEpochStart records that leader epoch epoch starts at startOffset
// (a new leader calls it with its LEO), dropping conflicting later entries,
// and persists the cache (on a full disk, before the next append).
func (l *Log) AssignEpochStart(epoch int32, startOffset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	next, changed := l.epochs.withAssigned(epoch, startOffset)
	if !changed {
		return nil
	}
	l.epochs = next
	return l.saveEpochsOrDefer()
}

// saveEpochsOrDefer writes the leader-epoch checkpoint, or on a full disk
// leaves it stale for the next append to write before its batch: a full
// disk must not keep a log from opening, or a replica from becoming leader,
// to serve reads, and no batch of an epoch reaches the disk before the
// checkpoint naming it.
func (l *Log) saveEpochsOrDefer() error {
	err := l.saveEpochs()
	if errors.Is(err, ErrNoSpace) {
		l.opts.Logger.Warn("segment: disk full, leader-epoch checkpoint to be rewritten by the next append", "dir", l.dir, "err", err)
		l.epochsStale = true
		return nil
	}
	return err
}

// assignEpoch records the start of a batch's epoch, on disk first: should
// the write fail, the cache stays as it was. A stale checkpoint is written
// even when the cache does not change.
func (l *Log) assignEpoch(epoch int32, startOffset int64) error {
	next, changed := l.epochs.withAssigned(epoch, startOffset)
	if !changed && !l.epochsStale {
		return nil
	}
	if err := l.writeEpochs(next); err != nil {
		return err
	}
	l.epochs = next
	return nil
}

// EndOffsetForEpoch returns the largest epoch <= epoch and its end offset
// (the next epoch's start, or LEO); (-1, -1) when unknown.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.endOffsetFor(epoch, l.leo())
}

// LatestEpoch is the newest leader epoch in the cache, -1 when none.
func (l *Log) LatestEpoch() int32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.latest()
}

func (l *Log) saveEpochs() error { return l.writeEpochs(l.epochs) }

func (l *Log) writeEpochs(c epochCache) error {
	if err := writeCheckpoint(l.opts.FS, filepath.Join(l.dir, epochCheckpointName), c.encode(), true); err != nil {
		return fmt.Errorf("log %s: leader epochs: %w", l.dir, err)
	}
	l.epochsStale = false
	return nil
}

// Close makes everything durable, trims the active segment's indexes and
// closes the log. Regions still held stay valid until released; files
// awaiting deletion are removed at the next open.
func (l *Log) Close() error {
	l.background.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	err := l.active().finish()
	if l.failed == nil && err == nil {
		err = l.syncAllLocked()
	}
	l.closeLocked()
	if err != nil {
		return fmt.Errorf("log %s: close: %w", l.dir, err)
	}
	return l.failed
}

// closeLocked drops the log's references to its files.
func (l *Log) closeLocked() {
	l.closed = true
	_, sealed := l.unsynced.take()
	for _, f := range sealed {
		f.release()
	}
	for _, s := range l.segments {
		s.close()
	}
}

// abandon closes a log whose directory is being deleted: nothing is synced.
func (l *Log) abandon() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closeLocked()
	}
}

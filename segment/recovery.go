package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/riffle/riffle/segment/vfs"
)

// logState is what the data directory's checkpoints say about a log.
type logState struct {
	clean         bool           // the last stop was clean: trust every index
	rebuild       map[int64]bool // segments a finished clean swap put in: rebuild their indexes
	recoveryPoint int64          // offsets below are durable (unclean stop)
	logStart      int64          // -1 when not checkpointed
}

// recoveryStats describe one log's open, for the start-up log line and tests.
type recoveryStats struct {
	segmentsScanned int   // segments whose batches were read and verified
	bytesScanned    int64 // log bytes read by those scans
	bytesTruncated  int64 // torn or corrupt tail bytes cut off
	// recoveredEpochs are the epoch starts read from the batch headers of
	// the scanned segments that the log kept, ascending.
	recoveredEpochs []epochEntry
}

// openLog opens the log in dir, recovering segments past the recovery point
// after an unclean stop.
func openLog(dir string, cfg Config, opts Options, limit *fileLimit, st logState) (*Log, recoveryStats, error) {
	var stats recoveryStats
	if err := cfg.Validate(); err != nil {
		return nil, stats, fmt.Errorf("log %s: %w", dir, err)
	}
	l := &Log{dir: dir, opts: opts, files: &fileGroup{limit: limit}, cfg: cfg}
	l.flushCond = sync.NewCond(&l.flushMu)
	l.unsynced.sinceMs = -1
	if err := opts.FS.MkdirAll(dir, 0o755); err != nil {
		return nil, stats, fmt.Errorf("log %s: %w", dir, err)
	}
	var err error
	st.rebuild, err = finishSwaps(opts.FS, dir)
	var bases []int64
	if err == nil {
		bases, err = cleanDir(opts.FS, dir)
	}
	if err == nil {
		stats, err = l.loadSegments(bases, st)
	}
	if err == nil {
		err = l.loadEpochs(stats.recoveredEpochs)
	}
	if err != nil {
		for _, s := range l.segments {
			s.close()
		}
		return nil, stats, fmt.Errorf("log %s: open: %w", dir, err)
	}
	return l, stats, nil
}

// cleanDir removes leftovers (.deleted files, temporary checkpoints, indexes
// without a log) and returns the segments' base offsets, ascending.
func cleanDir(fsys vfs.FS, dir string) ([]int64, error) {
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	logs := map[string]bool{}
	var bases []int64
	for _, n := range names {
		if stem, ok := strings.CutSuffix(n, logSuffix); ok {
			if base, err := strconv.ParseInt(stem, 10, 64); err == nil && len(stem) == 20 && base >= 0 {
				logs[stem] = true
				bases = append(bases, base)
			}
		}
	}
	for _, n := range names {
		stem, _, _ := strings.Cut(n, ".")
		orphanIndex := (strings.HasSuffix(n, indexSuffix) || strings.HasSuffix(n, timeIndexSuffix)) && !logs[stem]
		if orphanIndex || strings.HasSuffix(n, deletedSuffix) || strings.HasSuffix(n, ".tmp") {
			if err := fsys.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

func (l *Log) loadSegments(bases []int64, st logState) (recoveryStats, error) {
	var stats recoveryStats
	if err := l.loadChain(bases, st, &stats); err != nil {
		return stats, err
	}
	if len(l.segments) == 0 {
		s, err := createSegment(l.opts.FS, l.dir, max(st.logStart, 0), l.cfg, l.files)
		if err != nil {
			return stats, err
		}
		l.segments = []*segment{s}
		l.unsynced.dirDirty = true
	}
	for _, s := range l.segments[:len(l.segments)-1] {
		if err := s.finish(); err != nil {
			return stats, err
		}
	}
	if err := l.active().activate(l.cfg); err != nil {
		return stats, err
	}
	l.active().rollStartMs = l.opts.nowMs()
	leo := l.leo()
	l.logStart = min(max(st.logStart, l.segments[0].base), leo)
	l.recoveryPoint.Store(leo)
	if !st.clean {
		l.recoveryPoint.Store(min(max(st.recoveryPoint, 0), leo))
	}
	return stats, nil
}

// loadChain opens and loads the segments at bases, keeping the contiguous
// run from the first: the log is a prefix of what was appended, so each
// segment must begin where the one before ends. Segments after a cut tail,
// a hole or an overlap (power loss once a new segment's directory entry, or
// a truncation's renames, was durable and before the data before it was)
// are deleted, as is an empty segment that is not the last, which a roll
// that failed half way leaves behind.
func (l *Log) loadChain(bases []int64, st logState, stats *recoveryStats) error {
	for i, base := range bases {
		s, err := openSegment(l.opts.FS, l.dir, base, l.files)
		if err != nil {
			return err
		}
		last := i == len(bases)-1
		verify := st.rebuild[base] || !st.clean && (last || bases[i+1] > st.recoveryPoint)
		cut, epochs, err := l.loadSegment(s, verify, stats)
		if err != nil {
			s.close()
			return err
		}
		switch n := len(l.segments); {
		case n > 0 && s.size == 0 && !last:
			s.close()
			l.opts.Logger.Warn("segment: deleting an empty segment that is not the last", "dir", l.dir, "segment", base)
			if err := l.removeSegmentFiles(bases[i : i+1]); err != nil {
				return err
			}
			continue
		case n > 0 && base != l.segments[n-1].next:
			s.close()
			l.opts.Logger.Warn("segment: hole or overlap between segments, deleting the later ones", "dir", l.dir,
				"end", l.segments[n-1].next, "segment", base, "deleted", len(bases)-i)
			return l.removeSegmentFiles(bases[i:])
		}
		l.segments = append(l.segments, s)
		stats.recoveredEpochs = append(stats.recoveredEpochs, epochs...)
		if cut && !last {
			l.opts.Logger.Warn("segment: deleting the segments after a cut tail", "dir", l.dir, "deleted", len(bases)-1-i)
			return l.removeSegmentFiles(bases[i+1:])
		}
	}
	return nil
}

// loadSegment derives a segment's state: from its indexes and tail headers
// when they can be trusted, else by a full verifying scan. cut reports that
// the scan removed a torn or corrupt tail; epochs are the epoch starts of
// the batches the scan kept.
func (l *Log) loadSegment(s *segment, verify bool, stats *recoveryStats) (cut bool, epochs []epochEntry, err error) {
	if !verify {
		err := s.loadTail()
		if err == nil {
			return false, nil, nil
		}
		l.opts.Logger.Warn("segment: index inconsistent with log, rebuilding", "dir", l.dir, "segment", s.base, "err", err)
	}
	scanned, cutBytes, err := s.recover(l.cfg, func(h BatchHeader) {
		if n := len(epochs); h.PartitionLeaderEpoch >= 0 && (n == 0 || epochs[n-1].Epoch != h.PartitionLeaderEpoch) {
			epochs = append(epochs, epochEntry{h.PartitionLeaderEpoch, h.BaseOffset})
		}
	})
	stats.segmentsScanned++
	stats.bytesScanned += scanned
	stats.bytesTruncated += cutBytes
	if cutBytes > 0 {
		l.opts.Logger.Warn("segment: truncated corrupt or torn tail", "dir", l.dir, "segment", s.base, "position", s.size, "bytes", cutBytes)
	}
	return cutBytes > 0, epochs, err
}

func (l *Log) removeSegmentFiles(bases []int64) error {
	for _, base := range bases {
		for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			if err := l.opts.FS.Remove(segmentPath(l.dir, base, suffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	l.unsynced.dirDirty = true
	return nil
}

// loadEpochs loads the leader epoch cache. A corrupt checkpoint is logged
// and the cache rebuilt from the batches; an I/O error fails the open.
//
// The epochs of the batches recovery re-read are then assigned, each one
// newer than the cache's latest, as Kafka's segment recovery does: a
// checkpoint is durable at once while the batches it describes become
// durable at a sync, so after power loss the checkpoint may lack epochs of
// batches that survived. Entries past the LEO go (batches that did not
// survive), and those below log start.
func (l *Log) loadEpochs(recovered []epochEntry) error {
	entries, err := readCheckpoint(l.opts.FS, filepath.Join(l.dir, epochCheckpointName), 2)
	if err == nil {
		l.epochs, err = decodeEpochs(entries)
	}
	rebuilt := errors.Is(err, ErrCorruptCheckpoint)
	if rebuilt {
		l.opts.Logger.Warn("segment: corrupt leader-epoch checkpoint, rebuilding it from batch headers", "dir", l.dir, "err", err)
		err = l.rebuildEpochs()
	}
	if err != nil {
		return err
	}
	changed := false
	for _, e := range recovered {
		if e.Epoch > l.epochs.latest() {
			changed = l.epochs.assign(e.Epoch, e.StartOffset) || changed
		}
	}
	changed = l.epochs.truncateFromEnd(l.leo()) || changed
	if !l.epochs.truncateFromStart(l.logStart) && !changed && !rebuilt {
		return nil
	}
	return l.saveEpochsOrDefer()
}

// rebuildEpochs derives the epoch cache from every batch header's
// partitionLeaderEpoch, assigned as the appends that wrote them assigned it.
// An epoch started with no batch yet (AssignEpochStart) is missing until
// its first append.
func (l *Log) rebuildEpochs() error {
	l.epochs = epochCache{}
	for _, s := range l.segments {
		err := s.scan(0, func(_ int64, h BatchHeader) bool {
			l.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset)
			return true
		})
		if err != nil {
			return fmt.Errorf("rebuild leader epochs: %w", err)
		}
	}
	return nil
}

// loadTail derives the segment's end state from its indexes and the batch
// headers after the last offset-index entry: no record bytes are read. It
// fails when the indexes do not match the log: the last offset-index entry
// must name a batch header that ends at its offset.
func (s *segment) loadTail() error {
	from, indexed := int64(0), int64(-1)
	if n := s.index.entries; n > 0 {
		// No batch at relative offset 0 or position 0 is ever indexed (the
		// first batch never is), so a zero entry is preallocated padding.
		o, pos := s.index.at(n - 1)
		if o <= s.base || pos <= 0 || pos >= s.size {
			return fmt.Errorf("offset index entry (%d, %d) outside the segment", o, pos)
		}
		from, indexed = pos, o
	}
	if s.timeIndex.entries > 1 {
		first, _ := s.timeIndex.at(0)
		last, _ := s.timeIndex.last()
		if first >= last {
			return fmt.Errorf("time index timestamps do not increase (%d, then %d)", first, last)
		}
	}
	s.next = s.base
	// The time index holds offsets within the right batch, not always the
	// record's (a compressed batch's is a stand-in): resolve on demand.
	s.maxTs, s.maxTsOffset = s.timeIndex.last()
	s.maxTsStandIn = true
	s.bytesSinceIndex = s.size - from
	var mismatch error
	err := s.scan(from, func(pos int64, h BatchHeader) bool {
		if pos == from && indexed >= 0 && h.LastOffset() != indexed {
			mismatch = fmt.Errorf("offset index entry (%d, %d) names a batch ending at %d", indexed, pos, h.LastOffset())
			return false
		}
		s.next = h.LastOffset() + 1
		if h.MaxTimestamp > s.maxTs {
			// Header only: the records are read when MaxTimestamp asks.
			s.maxTs, s.maxTsOffset = h.MaxTimestamp, h.LastOffset()
		}
		return true
	})
	if err == nil {
		err = mismatch
	}
	if err == nil && s.maxTsOffset >= s.next && s.size > 0 {
		err = fmt.Errorf("time index offset %d beyond the segment's end %d", s.maxTsOffset, s.next)
	}
	return err
}

// recover rebuilds the segment from its log file, read through a read-only
// map: every batch is verified (length, magic, CRC, offsets ascending) and
// the file is cut before the first that fails. onBatch sees each batch kept.
func (s *segment) recover(cfg Config, onBatch func(BatchHeader)) (scanned, cut int64, err error) {
	fileSize, err := s.log.f.Size()
	if err != nil {
		return 0, 0, fmt.Errorf("segment %d: %w", s.base, err)
	}
	if fileSize > segmentBytesMax+batchBytesMax {
		return 0, 0, fmt.Errorf("segment %d: %d bytes above maximum", s.base, fileSize)
	}
	mm, err := s.log.f.Map(int(fileSize), false)
	if err != nil {
		return 0, 0, fmt.Errorf("segment %d: map: %w", s.base, err)
	}
	defer s.log.f.Unmap(mm)
	if err := s.index.reset(cfg.IndexBytesMax); err != nil {
		return 0, 0, fmt.Errorf("segment %d: offset index: %w", s.base, err)
	}
	if err := s.timeIndex.reset(cfg.IndexBytesMax); err != nil {
		return 0, 0, fmt.Errorf("segment %d: time index: %w", s.base, err)
	}
	s.size, s.next, s.maxTs, s.maxTsOffset, s.maxTsStandIn, s.bytesSinceIndex = 0, s.base, -1, s.base, false, 0
	for pos := int64(0); ; {
		h, ok := s.verifyBatchAt(mm, pos)
		if !ok {
			break
		}
		maxTsOffset, resolved := maxTimestampOffset(mm[pos:pos+h.Size()], h, 0)
		s.observe(h, pos, maxTsOffset, resolved, cfg.IndexIntervalBytes)
		onBatch(h)
		pos += h.Size()
	}
	// Only appends fill the ring of recent batches: a sealed segment
	// recovered keeps none.
	s.recent = nil
	if s.size < fileSize {
		if err := s.log.f.Truncate(s.size); err != nil {
			return fileSize, 0, fmt.Errorf("segment %d: truncate to %d: %w", s.base, s.size, err)
		}
	}
	return fileSize, fileSize - s.size, nil
}

// verifyBatchAt checks the batch at pos of a mapped log file.
func (s *segment) verifyBatchAt(mm []byte, pos int64) (BatchHeader, bool) {
	rest := mm[pos:]
	if len(rest) < BatchHeaderSize {
		return BatchHeader{}, false
	}
	size := int64(int32(binary.BigEndian.Uint32(rest[offLength:]))) + batchOverhead
	if size < BatchHeaderSize || size > int64(len(rest)) {
		return BatchHeader{}, false
	}
	v, err := validateStoredBatch(rest[:size], math.MaxInt32)
	h := v.Header()
	if err != nil || h.BaseOffset < s.next || h.LastOffset()-s.base > math.MaxInt32 {
		return h, false
	}
	return h, true
}

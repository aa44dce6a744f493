package segment

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"

	"github.com/riffle/riffle/segment/codec"
	"github.com/riffle/riffle/segment/vfs"
)

// File name suffixes of a segment and of a segment awaiting unlink.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	deletedSuffix   = ".deleted"
)

// segment is one .log file of whole record batches with its two indexes.
// Every field is guarded by the owning log's lock.
type segment struct {
	base      int64
	log       *fileRef
	index     offsetIndex
	timeIndex timeIndex

	size int64 // bytes of whole batches
	next int64 // offset after the last batch; base when empty

	// maxTs is the largest batch max timestamp (-1 when none) and maxTsOffset
	// the offset of the first record that carries it, or, when
	// maxTsStandIn, an offset within that record's batch: the batch's
	// records were not read (compressed, or only its header was), and
	// maxTimestampOffset reads them when asked. Either serves the time index.
	maxTs        int64
	maxTsOffset  int64
	maxTsStandIn bool

	bytesSinceIndex int64
	// recent holds the last batches appended: a tailing reader, a
	// caught-up consumer or a follower, asks for one of them, found here
	// without reading headers from the file. Made by the first append,
	// dropped when the segment is finished or batches are cut off.
	recent *recentBatches
	// rollStartMs is when the segment's first append happened, the clock
	// that segment.ms compares against.
	rollStartMs int64
}

// recentBatches is a ring of a segment's last appended batches: enough
// for a consumer a few produce requests behind the end (at 50,000 x 1 KiB/s
// a caught-up consumer's fetch found 4-5 batches appended since its last).
type recentBatches struct {
	b    [16]placedBatch
	next int // the slot the next batch takes
	n    int // slots filled: an empty one matches nothing
}

// placedBatch is a batch's header and its position in the segment file.
type placedBatch struct {
	pos int64
	h   BatchHeader
}

// recentBatch returns the remembered batch holding offset, if any.
func (s *segment) recentBatch(offset int64) (placedBatch, bool) {
	if s.recent == nil {
		return placedBatch{}, false
	}
	for _, b := range s.recent.b[:s.recent.n] {
		if b.pos+b.h.Size() <= s.size && b.h.BaseOffset <= offset && offset <= b.h.LastOffset() {
			return b, true
		}
	}
	return placedBatch{}, false
}

// remember adds a batch just appended to the ring.
func (s *segment) remember(pos int64, h BatchHeader) {
	if s.recent == nil {
		s.recent = new(recentBatches)
	}
	r := s.recent
	r.b[r.next] = placedBatch{pos, h}
	r.next = (r.next + 1) % len(r.b)
	r.n = min(r.n+1, len(r.b))
}

func segmentPath(dir string, base int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix))
}

// openSegment opens (creating when absent) the files of the segment at base.
// The indexes hold what their files hold; the log's size is the file's.
func openSegment(fs vfs.FS, dir string, base int64, g *fileGroup) (*segment, error) {
	return openSegmentAs(fs, dir, base, "", g)
}

// openSegmentAs opens the segment's files with extra after each suffix
// (the cleaner's ".cleaned" files).
func openSegmentAs(fs vfs.FS, dir string, base int64, extra string, g *fileGroup) (*segment, error) {
	name := segmentPath(dir, base, logSuffix) + extra
	ref, err := g.openFile(fs, name)
	if err != nil {
		return nil, fmt.Errorf("segment: %w", err)
	}
	s := &segment{base: base, log: ref, next: base, maxTs: -1, maxTsOffset: base}
	if s.size, err = ref.f.Size(); err != nil {
		s.log.release()
		return nil, fmt.Errorf("segment %s: %w", name, err)
	}
	idx, err := openIndexFile(fs, segmentPath(dir, base, indexSuffix)+extra, offsetEntrySize, g)
	if err != nil {
		s.log.release()
		return nil, err
	}
	s.index = offsetIndex{idx, base}
	tidx, err := openIndexFile(fs, segmentPath(dir, base, timeIndexSuffix)+extra, timeEntrySize, g)
	if err != nil {
		idx.close()
		s.log.release()
		return nil, err
	}
	s.timeIndex = timeIndex{tidx, base}
	return s, nil
}

// close drops the segment's references; regions keep the log file open.
func (s *segment) close() {
	s.index.close()
	s.timeIndex.close()
	s.log.release()
}

func (s *segment) files() []*fileRef {
	return []*fileRef{s.log, s.index.ref, s.timeIndex.ref}
}

// observe accounts for a batch written at pos: offsets, timestamps and the
// sparse index entries (one per index.interval.bytes). maxTsOffset is the
// offset of the batch's max timestamp, a stand-in unless resolved.
func (s *segment) observe(h BatchHeader, pos, maxTsOffset int64, resolved bool, intervalBytes int32) {
	s.size = pos + h.Size()
	s.next = h.LastOffset() + 1
	s.remember(pos, h)
	if h.MaxTimestamp > s.maxTs {
		s.maxTs, s.maxTsOffset, s.maxTsStandIn = h.MaxTimestamp, maxTsOffset, !resolved
	}
	// A full index (segment.index.bytes lowered since the segment was
	// written), or an entry that a full disk refused, only makes lookups
	// scan further; the next batch tries again. The time entry goes first:
	// a clean open takes the maximum timestamp up to the last offset entry
	// from the time index.
	if s.bytesSinceIndex > int64(intervalBytes) && !s.index.full() &&
		s.timeIndex.maybeAppend(s.maxTs, s.maxTsOffset, false) == nil &&
		s.index.append(h.LastOffset(), pos) == nil {
		s.bytesSinceIndex = 0
	}
	s.bytesSinceIndex += h.Size()
}

// append writes validated batches (offsets assigned) laid end to end in b,
// hs their headers, at the end, in one write. A batch's max timestamp is
// taken at its last offset, a stand-in (maxTimestampOffset without
// reading records), or at its base for LogAppendTime.
func (s *segment) append(b []byte, hs []BatchHeader, cfg Config, nowMs int64) error {
	if _, err := s.log.f.WriteAt(b, s.size); err != nil {
		// Best effort: cut a partial write so the file holds whole batches;
		// if this fails too, the next open's scan cuts it.
		_ = s.log.f.Truncate(s.size)
		return fmt.Errorf("segment %d: write at %d: %w", s.base, s.size, err)
	}
	if s.size == 0 {
		s.rollStartMs = nowMs
	}
	for _, h := range hs {
		maxTsOffset, resolved := maxTimestampOffset(nil, h, 0)
		s.observe(h, s.size, maxTsOffset, resolved, cfg.IndexIntervalBytes)
	}
	return nil
}

// fits reports whether a batch of size bytes ending at lastOffset may go
// into this segment without a roll.
func (s *segment) fits(size, lastOffset int64, cfg Config, nowMs int64) bool {
	if s.size == 0 {
		return true
	}
	return s.size+size <= cfg.SegmentBytes &&
		nowMs-s.rollStartMs < cfg.SegmentMs &&
		!s.index.full() && !s.timeIndex.nearlyFull() &&
		lastOffset-s.base <= math.MaxInt32
}

// finish seals a segment that stops being active: its final max-timestamp
// entry goes into the time index and both indexes are trimmed.
func (s *segment) finish() error {
	s.recent = nil
	// Without the final entry (a full disk) a clean open still finds the
	// maximum: from the last entry and the headers after the last offset
	// entry. Only timestamp lookups scan further.
	_ = s.timeIndex.maybeAppend(s.maxTs, s.maxTsOffset, true)
	if err := s.index.trim(); err != nil {
		return fmt.Errorf("segment %d: offset index: %w", s.base, err)
	}
	if err := s.timeIndex.trim(); err != nil {
		return fmt.Errorf("segment %d: time index: %w", s.base, err)
	}
	return nil
}

// activate preallocates the indexes for appends.
func (s *segment) activate(cfg Config) error {
	if err := s.index.makeWritable(cfg.IndexBytesMax); err != nil {
		return fmt.Errorf("segment %d: offset index: %w", s.base, err)
	}
	if err := s.timeIndex.makeWritable(cfg.IndexBytesMax); err != nil {
		return fmt.Errorf("segment %d: time index: %w", s.base, err)
	}
	return nil
}

var errShortSegment = errors.New("batch header runs past the end of the segment")

// headerAt reads the header of the batch at pos, checking that the batch
// lies within the segment. It reads no record bytes.
func (s *segment) headerAt(pos int64) (BatchHeader, error) {
	var buf [BatchHeaderSize]byte
	if pos+BatchHeaderSize > s.size {
		return BatchHeader{}, fmt.Errorf("segment %d at %d: %w", s.base, pos, errShortSegment)
	}
	if _, err := s.log.f.ReadAt(buf[:], pos); err != nil {
		return BatchHeader{}, fmt.Errorf("segment %d: read header at %d: %w", s.base, pos, err)
	}
	h, err := ParseBatchHeader(buf[:])
	if err == nil && (h.Magic != 2 || h.Size() < BatchHeaderSize || pos+h.Size() > s.size) {
		err = fmt.Errorf("%w: magic %d, size %d at %d of %d", ErrCorruptBatch, h.Magic, h.Size(), pos, s.size)
	}
	if err != nil {
		return h, fmt.Errorf("segment %d: %w", s.base, err)
	}
	return h, nil
}

// scan calls fn with each batch header from position from until fn returns
// false or the segment ends.
func (s *segment) scan(from int64, fn func(pos int64, h BatchHeader) bool) error {
	for pos := from; pos < s.size; {
		h, err := s.headerAt(pos)
		if err != nil {
			return err
		}
		if !fn(pos, h) {
			return nil
		}
		pos += h.Size()
	}
	return nil
}

// findBatch returns the first batch whose last offset is >= offset; ok is
// false when the segment has none. The offset index only says where to
// start: when what the scan from its entry finds cannot be right (no batch,
// a batch starting above offset, a bad header), as from a damaged entry, the
// scan is redone from the segment's start.
func (s *segment) findBatch(offset int64) (pos int64, h BatchHeader, ok bool, err error) {
	if b, ok := s.recentBatch(offset); ok {
		return b.pos, b.h, true, nil
	}
	from := s.index.lookup(offset)
	pos, h, ok, err = s.findBatchFrom(from, offset)
	misled := err != nil || (!ok && offset < s.next) || (ok && h.BaseOffset > max(offset, s.base))
	if from > 0 && misled {
		return s.findBatchFrom(0, offset)
	}
	return pos, h, ok, err
}

func (s *segment) findBatchFrom(from, offset int64) (pos int64, h BatchHeader, ok bool, err error) {
	err = s.scan(from, func(p int64, bh BatchHeader) bool {
		if bh.LastOffset() < offset {
			return true
		}
		pos, h, ok = p, bh, true
		return false
	})
	return pos, h, ok, err
}

// region returns the byte range [start, end) for Log.Read: whole batches
// from the one holding offset, before the first batch at or above upper, at
// most maxBytes unless minOne and the first batch alone is larger. ok is
// false when offset lies past the segment's batches.
func (s *segment) region(offset int64, maxBytes int32, upper int64, minOne bool) (start, end int64, ok bool, err error) {
	start, first, ok, err := s.findBatch(offset)
	if err != nil || !ok {
		return 0, 0, ok, err
	}
	if first.BaseOffset >= upper {
		return start, start, true, nil
	}
	end = s.size
	if upper < s.next {
		p, h, found, err := s.findBatch(upper)
		if err != nil {
			return 0, 0, false, err
		}
		if found {
			end = p
			if h.BaseOffset < upper {
				end = p + h.Size()
			}
		}
	}
	if end-start > int64(maxBytes) {
		if end, err = s.lastBoundary(start, start+int64(maxBytes), end); err != nil {
			return 0, 0, false, err
		}
		if end == start && minOne {
			end = start + first.Size()
		}
	}
	return start, end, true, nil
}

// lastBoundary returns the greatest batch end <= limit in [start, end],
// start when the first batch is larger. The index narrows the header scan;
// if the scan from its entry fails (a damaged entry), it starts again at
// start, a known boundary.
func (s *segment) lastBoundary(start, limit, end int64) (int64, error) {
	from := max(start, s.index.lookupPos(limit))
	boundary, err := s.lastBoundaryFrom(from, limit, end)
	if err != nil && from > start {
		return s.lastBoundaryFrom(start, limit, end)
	}
	return boundary, err
}

func (s *segment) lastBoundaryFrom(from, limit, end int64) (int64, error) {
	boundary := from
	err := s.scan(from, func(pos int64, h BatchHeader) bool {
		if pos+h.Size() > limit || pos >= end {
			return false
		}
		boundary = pos + h.Size()
		return true
	})
	return boundary, err
}

// createSegment starts an empty active segment at base, replacing any stale
// files of that name.
func createSegment(fs vfs.FS, dir string, base int64, cfg Config, g *fileGroup) (*segment, error) {
	return createSegmentAs(fs, dir, base, "", cfg, g)
}

func createSegmentAs(fs vfs.FS, dir string, base int64, extra string, cfg Config, g *fileGroup) (*segment, error) {
	s, err := openSegmentAs(fs, dir, base, extra, g)
	if err != nil {
		return nil, err
	}
	err = s.log.f.Truncate(0)
	if err == nil {
		s.size = 0
		err = s.index.reset(cfg.IndexBytesMax)
	}
	if err == nil {
		err = s.timeIndex.reset(cfg.IndexBytesMax)
	}
	if err != nil {
		s.close()
		return nil, fmt.Errorf("create segment %d: %w", base, err)
	}
	return s, nil
}

// offsetForTimestamp finds the first record at or above minOffset with a
// timestamp >= ts. The indexes give where to start scanning.
// batchBytesMax (max.message.bytes) bounds decompression.
func (s *segment) offsetForTimestamp(ts, minOffset int64, batchBytesMax int32) (offset, timestamp int64, found bool, err error) {
	from, ok, err := s.timeSearchStart(ts, minOffset)
	if err != nil || !ok {
		return -1, -1, false, err
	}
	var hit BatchHeader
	var hitPos int64
	search := func(p int64, h BatchHeader) bool {
		if h.MaxTimestamp < ts || h.LastOffset() < minOffset {
			return true
		}
		hit, hitPos, found = h, p, true
		return false
	}
	for {
		found = false
		if err = s.scan(from, search); err != nil || !found {
			return -1, -1, false, err
		}
		offset, timestamp, found, err = s.recordAtTime(hit, hitPos, ts, minOffset, batchBytesMax)
		if err != nil || found {
			return offset, timestamp, found, err
		}
		from = hitPos + hit.Size()
	}
}

// timeSearchStart returns the position of a batch from which a search for
// the first record at or above minOffset with a timestamp >= ts may scan:
// the batch holding minOffset, or a later one that a time index entry
// (t, o) with t < ts shows that no earlier record passes. Both indexes are
// hints. findBatch checks the offset index; an entry is used only if the
// batch holding o has max timestamp t, as every entry's has (it names the
// record carrying the running maximum), so a damaged one is ignored. ok is
// false when the segment holds no batch at or above minOffset.
func (s *segment) timeSearchStart(ts, minOffset int64) (pos int64, ok bool, err error) {
	target := max(minOffset, s.base)
	if t, o, indexed := s.timeIndex.lookupBelow(ts); indexed && o > target {
		p, h, held, ferr := s.findBatch(o)
		if ferr == nil && held && h.BaseOffset <= o && h.MaxTimestamp == t {
			return p, true, nil
		}
	}
	pos, _, ok, err = s.findBatch(target)
	return pos, ok, err
}

// recordAtTime returns the first record of the batch h at pos at or above
// minOffset with a timestamp >= ts. A compressed batch is decompressed; one
// that fails to decompress (never a batch that passed produce validation)
// answers at batch level, as a LogAppendTime batch does: its first offset
// at or above minOffset, with its max timestamp.
func (s *segment) recordAtTime(h BatchHeader, pos, ts, minOffset int64, batchBytesMax int32) (offset, timestamp int64, found bool, err error) {
	if h.Attributes&AttrLogAppendTime != 0 {
		// Every record of a LogAppendTime batch carries its max timestamp.
		return max(h.BaseOffset, minOffset), h.MaxTimestamp, true, nil
	}
	b, err := s.readBatch(pos, h)
	if err != nil {
		return -1, -1, false, err
	}
	err = eachRecordTime(b, h, decompressedBytesMax(h, batchBytesMax), func(o, t int64) bool {
		if o >= minOffset && t >= ts {
			offset, timestamp, found = o, t, true
		}
		return !found
	})
	if errors.Is(err, codec.ErrCorrupt) || errors.Is(err, codec.ErrUnsupported) {
		return max(h.BaseOffset, minOffset), h.MaxTimestamp, true, nil
	}
	if err != nil {
		return -1, -1, false, fmt.Errorf("segment %d: batch at %d: %w", s.base, pos, err)
	}
	return offset, timestamp, found, nil
}

// maxTimestampOffset returns the offset of the first record carrying the
// segment's max timestamp. A stand-in is resolved by reading the batch
// holding it, decompressed under batchBytesMax (max.message.bytes), each
// time: only ListOffsets -3 asks, rarely, and the append path need not pay
// for it. A batch that cannot be found or read keeps the stand-in.
func (s *segment) maxTimestampOffset(batchBytesMax int32) int64 {
	if !s.maxTsStandIn {
		return s.maxTsOffset
	}
	pos, h, ok, err := s.findBatch(s.maxTsOffset)
	if err != nil || !ok || h.BaseOffset > s.maxTsOffset || h.MaxTimestamp != s.maxTs {
		return s.maxTsOffset
	}
	b, err := s.readBatch(pos, h)
	if err != nil {
		return s.maxTsOffset
	}
	offset, _ := maxTimestampOffset(b, h, decompressedBytesMax(h, batchBytesMax))
	return offset
}

// readBatch reads the whole batch h at pos.
func (s *segment) readBatch(pos int64, h BatchHeader) ([]byte, error) {
	b := make([]byte, h.Size())
	if _, err := s.log.f.ReadAt(b, pos); err != nil {
		return nil, fmt.Errorf("segment %d: read batch at %d: %w", s.base, pos, err)
	}
	return b, nil
}

package segment

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"

	"github.com/riffle/riffle/segment/vfs"
)

const (
	offsetEntrySize = 8  // int32 relative offset, int32 position
	timeEntrySize   = 12 // int64 timestamp, int32 relative offset
	// warmBytes is the tail of an index that lookups search first: the
	// entries that recent appends and tailing fetches touch, kept in memory
	// by their use, so most lookups touch no cold page.
	warmBytes = 8192
	// heldBytesMax bounds the new entries an index holds in memory before
	// one pwrite writes them all: an entry per pwrite was 0.6 syscalls per
	// produce request at 50,000 x 1 KiB/s.
	heldBytesMax = 1024
)

// indexFile is an mmap'd array of fixed-size big-endian entries. The active
// segment's indexes are sized to segment.index.bytes, sparse, and take
// appends; a finished segment's are trimmed to their entries. Mappings are
// read-only, and entries are written with pwrite, which the shared mapping
// sees: a store through a map into a hole needs a block, and on a full disk
// that page fault kills the process with SIGBUS, where pwrite fails with
// ENOSPC; reading a hole gives zeros. New entries are held in memory and
// written heldBytesMax at a time, and all at trim (a segment finished or
// closed): only the active segment's index lacks them after a crash, and
// the open after a crash rebuilds that one from the log anyway. Callers
// hold the log's lock.
type indexFile struct {
	ref        *fileRef
	mm         []byte
	entrySize  int
	entries    int    // written and held
	written    int    // entries in the file, which the mapping sees
	held       []byte // entries written..entries, not yet in the file
	capEntries int    // entries the file and mapping hold
	writable   bool
}

// openIndexFile opens (creating it empty) an index whose entries are the
// whole current file, mapped read-only.
func openIndexFile(fs vfs.FS, name string, entrySize int, g *fileGroup) (*indexFile, error) {
	ref, err := g.openFile(fs, name)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	idx := &indexFile{ref: ref, entrySize: entrySize}
	size, err := ref.f.Size()
	if err == nil && (size%int64(entrySize) != 0 || size > indexBytesMax) {
		// Torn or oversized: keep the whole entries within the maximum,
		// which the open checks against the log as it does any others.
		size = min(size, indexBytesMax)
		size -= size % int64(entrySize)
		err = ref.f.Truncate(size)
	}
	if err == nil {
		idx.entries = int(size) / entrySize
		idx.written, idx.capEntries = idx.entries, idx.entries
		idx.mm, err = ref.f.Map(int(size), false)
	}
	if err != nil {
		idx.close()
		return nil, fmt.Errorf("index %s: %w", name, err)
	}
	return idx, nil
}

// remap resizes the file to n entries and maps it; writable says whether
// it takes appends. Whatever fails, the index keeps a mapping that covers
// its entries, so the log stays readable: a smaller mapping is made before
// the old one goes; a larger one needs the old one gone first (a memory
// filesystem cannot grow a mapped file), so on failure the old one is
// mapped again, and if even that fails the entries are dropped from memory
// (lookups then scan from the segment's start). The caller fails the log
// on any error; the file keeps its entries, perhaps followed by zeros,
// which the next open's check rejects.
func (x *indexFile) remap(n int, writable bool) error {
	size := n * x.entrySize
	if size > len(x.mm) {
		return x.grow(n, writable)
	}
	mm, err := x.ref.f.Map(size, false)
	if err != nil {
		return fmt.Errorf("map %d bytes: %w", size, err)
	}
	old := x.mm
	x.mm, x.capEntries, x.writable = mm, n, writable
	if err := x.ref.f.Unmap(old); err != nil {
		// The old mapping stays behind, unused; the file keeps its length.
		return fmt.Errorf("unmap: %w", err)
	}
	if err := x.ref.f.Truncate(int64(size)); err != nil {
		return fmt.Errorf("resize to %d: %w", size, err)
	}
	return nil
}

// grow is remap to a size above the current mapping's.
func (x *indexFile) grow(n int, writable bool) error {
	size := n * x.entrySize
	if err := x.ref.f.Unmap(x.mm); err != nil {
		return fmt.Errorf("unmap: %w", err)
	}
	oldLen, oldCap, oldWritable := len(x.mm), x.capEntries, x.writable
	x.mm = nil
	err := x.ref.f.Truncate(int64(size))
	if err != nil {
		err = fmt.Errorf("resize to %d: %w", size, err)
	} else if mm, merr := x.ref.f.Map(size, false); merr != nil {
		err = fmt.Errorf("map %d bytes: %w", size, merr)
	} else {
		x.mm, x.capEntries, x.writable = mm, n, writable
		return nil
	}
	// The file is at least as long as before: map what was mapped.
	mm, rerr := x.ref.f.Map(oldLen, false)
	if rerr != nil {
		mm, oldCap, oldWritable = nil, 0, false
		x.cut(0)
	}
	x.mm, x.capEntries, x.writable = mm, oldCap, oldWritable
	return err
}

// makeWritable sizes the index to maxBytes (sparse) for appends.
func (x *indexFile) makeWritable(maxBytes int32) error {
	return x.remap(max(int(maxBytes)/x.entrySize, x.entries), true)
}

// reset drops every entry and preallocates for appends (index rebuild).
func (x *indexFile) reset(maxBytes int32) error {
	x.cut(0)
	if err := x.remap(0, false); err != nil {
		return err
	}
	return x.makeWritable(maxBytes)
}

// trim writes the held entries, shrinks the file to its entries and maps
// it read-only. Held entries that a full disk refuses are dropped: an
// index with fewer entries only makes lookups scan further.
func (x *indexFile) trim() error {
	if !x.writable {
		return nil
	}
	if x.writeHeld() != nil {
		x.cut(x.written)
	}
	return x.remap(x.entries, false)
}

func (x *indexFile) close() {
	// An unmap error leaves a mapping behind, nothing worse; the file still
	// closes with its last reference.
	_ = x.ref.f.Unmap(x.mm)
	x.mm = nil
	x.ref.release()
}

func (x *indexFile) full() bool { return x.entries >= x.capEntries }

func (x *indexFile) entry(i int) []byte {
	if i >= x.written {
		at := (i - x.written) * x.entrySize
		return x.held[at : at+x.entrySize]
	}
	return x.mm[i*x.entrySize : (i+1)*x.entrySize]
}

// appendEntry adds e as the next entry, held in memory; when the held
// entries would pass heldBytesMax they are written first. On error
// (ENOSPC: their page was a hole) e is not added, and the held entries
// stay held.
func (x *indexFile) appendEntry(e []byte) error {
	if x.full() {
		panic("segment: append to a full index")
	}
	if len(x.held)+len(e) > heldBytesMax {
		if err := x.writeHeld(); err != nil {
			return err
		}
	}
	x.held = append(x.held, e...)
	x.entries++
	return nil
}

// writeHeld writes the held entries to the file.
func (x *indexFile) writeHeld() error {
	if len(x.held) == 0 {
		return nil
	}
	pos := int64(x.written * x.entrySize)
	if _, err := x.ref.f.WriteAt(x.held, pos); err != nil {
		return fmt.Errorf("write %d index entries at %d: %w", len(x.held)/x.entrySize, pos, err)
	}
	x.written, x.held = x.entries, x.held[:0]
	return nil
}

// cut keeps the first n entries. Entries cut from the file stay in it,
// beyond the count, until appends overwrite them or trim cuts the file.
func (x *indexFile) cut(n int) {
	if n < x.written {
		x.written = n
	}
	x.held = x.held[:(n-x.written)*x.entrySize]
	x.entries = n
}

// search returns the greatest i with key(i) <= target, or -1. Entries are
// sorted by key. The warm tail is tried first.
func (x *indexFile) search(key func(i int) int64, target int64) int {
	lo, hi := 0, x.entries
	if warm := x.entries - warmBytes/x.entrySize; warm > 0 {
		if key(warm) <= target {
			lo = warm
		} else {
			hi = warm
		}
	}
	return lo + sort.Search(hi-lo, func(j int) bool { return key(lo+j) > target }) - 1
}

// offsetIndex maps a batch's last offset to the batch's position.
type offsetIndex struct {
	*indexFile
	base int64
}

func (x offsetIndex) at(i int) (offset int64, pos int64) {
	e := x.entry(i)
	return x.base + int64(int32(binary.BigEndian.Uint32(e))), int64(int32(binary.BigEndian.Uint32(e[4:])))
}

func (x offsetIndex) append(offset, pos int64) error {
	var e [offsetEntrySize]byte
	binary.BigEndian.PutUint32(e[:], uint32(offset-x.base))
	binary.BigEndian.PutUint32(e[4:], uint32(pos))
	return x.appendEntry(e[:])
}

// lookup returns the position of the last indexed batch whose last offset is
// <= offset (0 when none): the batch holding offset starts at or after it.
func (x offsetIndex) lookup(offset int64) int64 {
	i := x.search(func(i int) int64 { o, _ := x.at(i); return o }, offset)
	if i < 0 {
		return 0
	}
	_, pos := x.at(i)
	return pos
}

// lookupPos returns the greatest indexed batch position <= limit (0 when none).
func (x offsetIndex) lookupPos(limit int64) int64 {
	i := x.search(func(i int) int64 { _, p := x.at(i); return p }, limit)
	if i < 0 {
		return 0
	}
	_, pos := x.at(i)
	return pos
}

// truncateFrom drops the entries of batches at or after pos.
func (x offsetIndex) truncateFrom(pos int64) {
	x.cut(x.search(func(i int) int64 { _, p := x.at(i); return p }, pos-1) + 1)
}

// timeIndex maps a running maximum timestamp to the offset of the record that
// carries it. Entries are strictly increasing in timestamp.
type timeIndex struct {
	*indexFile
	base int64
}

func (x timeIndex) at(i int) (ts int64, offset int64) {
	e := x.entry(i)
	return int64(binary.BigEndian.Uint64(e)), x.base + int64(int32(binary.BigEndian.Uint32(e[8:])))
}

// last returns the last entry, or (-1, base) when empty.
func (x timeIndex) last() (ts int64, offset int64) {
	if x.entries == 0 {
		return -1, x.base
	}
	return x.at(x.entries - 1)
}

// maybeAppend adds (ts, offset) if ts is above the last entry. The last slot
// is kept for the final entry written at roll (final true).
func (x timeIndex) maybeAppend(ts, offset int64, final bool) error {
	if last, _ := x.last(); ts <= last || x.full() || (!final && x.nearlyFull()) {
		return nil
	}
	var e [timeEntrySize]byte
	binary.BigEndian.PutUint64(e[:], uint64(ts))
	binary.BigEndian.PutUint32(e[8:], uint32(offset-x.base))
	return x.appendEntry(e[:])
}

func (x timeIndex) nearlyFull() bool { return x.entries+1 >= x.capEntries }

// lookupBelow returns the last entry whose timestamp is < ts; ok is false
// when there is none. Every batch up to the one holding its offset has a
// max timestamp below ts, so a search for ts may start there.
func (x timeIndex) lookupBelow(ts int64) (t, offset int64, ok bool) {
	if ts == math.MinInt64 {
		return 0, 0, false
	}
	i := x.search(func(i int) int64 { t, _ := x.at(i); return t }, ts-1)
	if i < 0 {
		return 0, 0, false
	}
	t, offset = x.at(i)
	return t, offset, true
}

// truncateFrom drops the entries whose offset is >= offset.
func (x timeIndex) truncateFrom(offset int64) {
	x.cut(x.search(func(i int) int64 { _, o := x.at(i); return o }, offset-1) + 1)
}

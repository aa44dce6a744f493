package quorum

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/riffle/riffle/segment"
	"github.com/riffle/riffle/segment/vfs"
)

// raftLog is raft.Storage over the metadata log (a segment.Log) plus the
// HardState file and the newest image snapshot, both in dir (the metadata
// log's directory).
//
// Raft entry i is one record batch; its term is the batch's partition
// leader epoch (0, written before raft, reads as term 1). Entries are
// contiguous in the log, so an entry's index follows from its position: the
// batch after offset snap.offset is entry snap.index+1, and with no snapshot
// the batch at offset 0 is entry 1. The table of entries (term and offsets)
// is built from batch headers at open.
//
// The log holds entries first..last: entry first is kept for its term only
// (raft's dummy entry) unless it directly follows the snapshot, whose term
// serves instead. Safe for concurrent use; in practice the node loop is its
// only user.
type raftLog struct {
	fs   vfs.FS
	dir  string
	log  *segment.Log
	cs   *raftpb.ConfState
	keep uint64

	mu    sync.Mutex
	snap  snapshotMeta
	first uint64     // index of ents[0]; snap.index+1 when ents is empty
	ents  []entryPos // the log's batches from its start
	hs    hardState  // durable: the file's, or at open what the log proves
	// err is sticky: after a failed Save or trim the table may not match
	// the disk, so every later call fails until a reopen reads the disk.
	err error
}

// errNotSingleVoter refuses to open a log written by the single-node
// controller with other voters: only this node's log holds the metadata.
var errNotSingleVoter = errors.New("the metadata log was written by a single node: it becomes a raft log only with this node as the only voter")

// entryPos is one entry's batch in the metadata log.
type entryPos struct {
	term  uint64
	base  int64 // first offset
	last  int64 // last offset
	bytes int64 // batch size
}

// snapshotMeta describes the newest snapshot file; index 0, term 0 and
// offset -1 when there is none.
type snapshotMeta struct {
	index, term uint64
	offset      int64 // metadata log offset the image is at
}

func (s snapshotMeta) fileName() string { return snapshotName(s.index, s.term) }

// openRaftLog opens the raft log over the metadata log. dir (the metadata
// log's directory) holds the HardState and snapshot files; cs is the voter
// set from the configuration, which must match the snapshot's; nodeID is
// this node; keep is how many entries at and before a snapshot stay in the
// log for followers that lag a little.
//
// A log without HardState file whose batches are all of leader epoch 0 was
// written by the single-node controller: it opens as committed entries of
// term 1 if this node is the only voter, and its HardState is written then.
// A snapshot whose install was cut short by a crash is completed.
func openRaftLog(fsys vfs.FS, dir string, log *segment.Log, cs *raftpb.ConfState, nodeID, keep uint64) (*raftLog, error) {
	l := &raftLog{fs: fsys, dir: dir, log: log, cs: proto.Clone(cs).(*raftpb.ConfState), keep: keep, snap: snapshotMeta{offset: -1}}
	if err := l.open(nodeID); err != nil {
		return nil, fmt.Errorf("raft log %s: %w", dir, err)
	}
	return l, nil
}

func (l *raftLog) open(nodeID uint64) error {
	if err := l.loadSnapshot(); err != nil {
		return err
	}
	ents, legacy, err := scanEntries(l.log)
	if err != nil {
		return err
	}
	if err := l.reconcile(ents); err != nil {
		return err
	}
	hs, found, err := readHardState(l.fs, l.dir)
	if err != nil {
		return err
	}
	switch {
	case !found && legacy > 0 && legacy == len(l.ents) && l.snap.index == 0:
		if !slices.Equal(l.cs.GetVoters(), []uint64{nodeID}) || len(l.cs.GetLearners()) > 0 {
			return fmt.Errorf("%w: this node is %d, the voters %v, the learners %v",
				errNotSingleVoter, nodeID, l.cs.GetVoters(), l.cs.GetLearners())
		}
		hs = hardState{term: 1, commit: l.lastIndex()}
		if err := writeHardState(l.fs, l.dir, hs); err != nil {
			return err
		}
	case !found && legacy > 0:
		return fmt.Errorf("%w: no HardState file, and batches of leader epoch 0 among raft entries", ErrCorruptMetadata)
	}
	// Entries are durable before the HardState that commits them, and a
	// snapshot before either: after a crash the HardState may lag them.
	hs.commit = max(hs.commit, l.snap.index)
	if hs.commit > l.lastIndex() {
		return fmt.Errorf("%w: HardState commits entry %d, the log ends at %d", ErrCorruptMetadata, hs.commit, l.lastIndex())
	}
	if t := l.mustTerm(l.lastIndex()); hs.term < t {
		// The HardState of the term these entries came in was not written:
		// no vote was cast in that term (a vote is durable before it is sent).
		hs = hardState{term: t, commit: hs.commit}
	}
	l.hs = hs
	return nil
}

// loadSnapshot reads the newest snapshot file's metadata and removes older
// ones and leftover temporary files.
func (l *raftLog) loadSnapshot() error {
	names, err := snapshotFiles(l.fs, l.dir)
	if err != nil || len(names) == 0 {
		return err
	}
	newest := names[len(names)-1]
	snap, err := readSnapshotFile(l.fs, l.dir, newest)
	if err != nil {
		return err
	}
	if !confStatesEqual(snap.GetMetadata().GetConfState(), l.cs) {
		return fmt.Errorf("the voters changed: snapshot %s has %v, the configuration %v (the voter set is static)",
			newest, snap.GetMetadata().GetConfState(), l.cs)
	}
	offset, err := imageDataOffset(snap.GetData())
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", newest, err)
	}
	l.snap = snapshotMeta{index: snap.GetMetadata().GetIndex(), term: snap.GetMetadata().GetTerm(), offset: offset}
	if l.snap.index == 0 || offset < int64(l.snap.index)-1 {
		return fmt.Errorf("%w: snapshot %s at offset %d", ErrCorruptMetadata, newest, offset)
	}
	return l.removeSnapshotsBefore(l.snap.index)
}

// removeSnapshotsBefore removes the snapshot files older than index.
func (l *raftLog) removeSnapshotsBefore(index uint64) error {
	names, err := snapshotFiles(l.fs, l.dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if i, _, _ := parseSnapshotName(n); i < index {
			if err := l.fs.Remove(filepath.Join(l.dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// scanEntries reads the metadata log's batch headers into the entry table
// and counts the batches of leader epoch 0 (written before raft).
func scanEntries(log *segment.Log) (ents []entryPos, legacy int, err error) {
	err = log.ScanBatches(log.LogStartOffset(), func(h segment.BatchHeader) error {
		e := entryPos{term: uint64(h.PartitionLeaderEpoch), base: h.BaseOffset, last: h.LastOffset(), bytes: h.Size()}
		switch {
		case h.PartitionLeaderEpoch < 0:
			return fmt.Errorf("%w: batch at offset %d has leader epoch %d", ErrCorruptMetadata, e.base, h.PartitionLeaderEpoch)
		case h.PartitionLeaderEpoch == 0:
			e.term = 1
			legacy++
		}
		if n := len(ents); n > 0 && (e.base != ents[n-1].last+1 || e.term < ents[n-1].term) {
			return fmt.Errorf("%w: batch at offset %d (leader epoch %d) does not follow the batch at %d-%d (term %d)",
				ErrCorruptMetadata, e.base, h.PartitionLeaderEpoch, ents[n-1].base, ents[n-1].last, ents[n-1].term)
		}
		ents = append(ents, e)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("scan metadata log: %w", err)
	}
	return ents, legacy, nil
}

// reconcile places the scanned batches in the raft log: it finds the index
// of the first one from the snapshot.
func (l *raftLog) reconcile(ents []entryPos) error {
	start := l.log.LogStartOffset()
	if l.snap.index == 0 {
		if start != 0 {
			return fmt.Errorf("%w: metadata log starts at offset %d without a snapshot", ErrCorruptMetadata, start)
		}
		l.first, l.ents = 1, ents
		return nil
	}
	next := l.snap.offset + 1
	k, found := slices.BinarySearchFunc(ents, l.snap.offset, func(e entryPos, off int64) int { return cmp.Compare(e.last, off) })
	switch {
	case found && ents[k].term == l.snap.term && uint64(k) < l.snap.index:
		// The entry the snapshot was taken at, and entries kept before it.
		l.first, l.ents = l.snap.index-uint64(k), ents
	case start == next && (len(ents) == 0 || ents[0].base == next):
		l.first, l.ents = l.snap.index+1, ents
	case start > next:
		return fmt.Errorf("%w: metadata log starts at offset %d, after snapshot %s at offset %d",
			ErrCorruptMetadata, start, l.snap.fileName(), l.snap.offset)
	default:
		// The log does not hold the snapshot's entry: the snapshot came
		// from the leader and a crash cut its install short.
		if err := l.log.TruncateFullyAndStartAt(next); err != nil {
			return err
		}
		l.first, l.ents = l.snap.index+1, nil
	}
	return nil
}

// lastIndex is the index of the last entry (the snapshot's when none).
func (l *raftLog) lastIndex() uint64 { return l.first + uint64(len(l.ents)) - 1 }

// firstIndex is the first entry Entries can return.
func (l *raftLog) firstIndex() uint64 {
	if l.first == l.snap.index+1 {
		return l.first
	}
	return l.first + 1
}

// nextOffset is the metadata log offset the next entry starts at.
func (l *raftLog) nextOffset() int64 {
	if n := len(l.ents); n > 0 {
		return l.ents[n-1].last + 1
	}
	return l.snap.offset + 1
}

func (l *raftLog) term(i uint64) (uint64, error) {
	switch {
	case i == l.snap.index:
		return l.snap.term, nil
	case i < l.firstIndex()-1:
		return 0, raft.ErrCompacted
	case i > l.lastIndex():
		return 0, raft.ErrUnavailable
	}
	return l.ents[i-l.first].term, nil
}

// mustTerm is term for an index known to be in [firstIndex-1, lastIndex].
func (l *raftLog) mustTerm(i uint64) uint64 {
	t, err := l.term(i)
	if err != nil {
		panic(fmt.Sprintf("quorum: term of entry %d in [%d, %d]: %v", i, l.firstIndex()-1, l.lastIndex(), err))
	}
	return t
}

// InitialState returns the HardState and the configured voters.
func (l *raftLog) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return nil, nil, l.err
	}
	return l.hs.proto(), proto.Clone(l.cs).(*raftpb.ConfState), nil
}

// Term returns entry i's term.
func (l *raftLog) Term(i uint64) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, l.err
	}
	return l.term(i)
}

// LastIndex returns the index of the last entry.
func (l *raftLog) LastIndex() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastIndex(), l.err
}

// FirstIndex returns the index of the first entry Entries can return.
func (l *raftLog) FirstIndex() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.firstIndex(), l.err
}

// Entries returns entries lo to hi-1, at least one and no more than
// maxSize bytes (protobuf-encoded) beyond the first. Each entry's Data is
// its batch as the metadata log stores it (offsets and leader epoch set);
// raft's empty entries come back as a batch of one NoOp record. Only the
// batches returned, and at most one more, are read.
func (l *raftLog) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return nil, l.err
	}
	return l.entries(lo, hi, maxSize)
}

func (l *raftLog) entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	switch {
	case lo < l.firstIndex():
		return nil, raft.ErrCompacted
	case hi > l.lastIndex()+1 || lo > hi:
		return nil, raft.ErrUnavailable
	case lo == hi:
		return nil, nil
	}
	pos := l.ents[lo-l.first : hi-l.first]
	// A batch is smaller than its entry's encoding: read as many batches
	// as could fit, then cut to maxSize exactly.
	n, bytes := 1, pos[0].bytes
	for n < len(pos) && uint64(bytes+pos[n].bytes) <= maxSize {
		bytes += pos[n].bytes
		n++
	}
	buf, err := l.readBatches(pos[:n], bytes)
	if err != nil {
		return nil, err
	}
	ents := make([]*raftpb.Entry, 0, n)
	var size uint64
	for j, p := range pos[:n] {
		b := buf[:p.bytes:p.bytes]
		buf = buf[p.bytes:]
		v, err := segment.ValidateBatch(b, math.MaxInt32)
		h := v.Header()
		if err != nil || h.BaseOffset != p.base || h.LastOffset() != p.last {
			return nil, fmt.Errorf("%w: entry %d, batch at offset %d: %v", ErrCorruptMetadata, lo+uint64(j), p.base, err)
		}
		e := &raftpb.Entry{Term: new(p.term), Index: new(lo + uint64(j)), Type: new(raftpb.EntryNormal), Data: b}
		if size += uint64(proto.Size(e)); j > 0 && size > maxSize {
			break
		}
		ents = append(ents, e)
	}
	return ents, nil
}

// readBatches reads the batches of pos, bytes long in all, from the
// metadata log.
func (l *raftLog) readBatches(pos []entryPos, bytes int64) ([]byte, error) {
	buf := make([]byte, bytes)
	var filled int64
	for j := 0; filled < bytes; {
		r, err := l.log.Read(pos[j].base, int32(min(bytes-filled, math.MaxInt32)), pos[len(pos)-1].last+1, true)
		if err != nil {
			return nil, fmt.Errorf("read metadata log at %d: %w", pos[j].base, err)
		}
		if r.Len == 0 || r.Len > bytes-filled {
			r.Release()
			return nil, fmt.Errorf("%w: metadata log region of %d bytes at offset %d, entries of %d bytes", ErrCorruptMetadata, r.Len, pos[j].base, bytes-filled)
		}
		n, err := r.File.ReadAt(buf[filled:filled+r.Len], r.Pos)
		r.Release()
		if int64(n) != r.Len {
			return nil, fmt.Errorf("read metadata log at %d: %d of %d bytes: %w", pos[j].base, n, r.Len, err)
		}
		// A region ends at a batch boundary, so at the start of an entry.
		end := filled + r.Len
		for filled < end {
			filled += pos[j].bytes
			j++
		}
		if filled != end {
			return nil, fmt.Errorf("%w: metadata log region at offset %d ends inside an entry", ErrCorruptMetadata, pos[0].base)
		}
	}
	return buf, nil
}

// Snapshot returns the newest snapshot, read from its file; with none, an
// empty snapshot of the configured voters.
func (l *raftLog) Snapshot() (*raftpb.Snapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return nil, l.err
	}
	return l.snapshot()
}

// FetchCommitted answers an observer's fetch from index (the 'O' kind of
// transport.go): MsgApp with the committed entries from index on (none
// when index is past the commit index; at most raftMsgBytesMax bytes
// beyond the first), or MsgSnap with the snapshot when index is before
// the first entry the log holds. Term and Commit are the durable
// HardState's: the commit index a Save made durable, so an observer
// never stores an entry this node has not.
func (l *raftLog) FetchCommitted(index uint64) (*raftpb.Message, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return nil, l.err
	}
	m := &raftpb.Message{Type: new(raftpb.MsgApp), Term: new(l.hs.term), Commit: new(l.hs.commit), Index: new(index - 1)}
	switch {
	case index == 0:
		return nil, fmt.Errorf("raft log %s: fetch from index 0", l.dir)
	case index < l.firstIndex():
		snap, err := l.snapshot()
		if err != nil {
			return nil, err
		}
		m.Type, m.Snapshot = new(raftpb.MsgSnap), snap
	case index <= l.hs.commit:
		ents, err := l.entries(index, l.hs.commit+1, raftMsgBytesMax)
		if err != nil {
			return nil, err
		}
		m.Entries = ents
	}
	return m, nil
}

func (l *raftLog) snapshot() (*raftpb.Snapshot, error) {
	if l.snap.index == 0 {
		cs := proto.Clone(l.cs).(*raftpb.ConfState)
		return raftpb.EnsureSnapshot(&raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{ConfState: cs}}), nil
	}
	snap, err := readSnapshotFile(l.fs, l.dir, l.snap.fileName())
	if err != nil {
		return nil, fmt.Errorf("raft log %s: %w", l.dir, err)
	}
	return snap, nil
}

// entryOffsets returns the metadata log offsets of entry i's records: the
// image after applying entry i is at offset last, on every node.
func (l *raftLog) entryOffsets(i uint64) (base, last int64, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, 0, l.err
	}
	if i < l.first || i > l.lastIndex() {
		return 0, 0, fmt.Errorf("raft log %s: entry %d outside [%d, %d]", l.dir, i, l.first, l.lastIndex())
	}
	p := l.ents[i-l.first]
	return p.base, p.last, nil
}

// entryRecords decodes an entry's records, as raft hands it to be applied:
// from the log, or raft's own copy of an entry it just appended. Either way
// raft's empty entry is one NoOp record, so it takes one offset.
func entryRecords(e *raftpb.Entry) ([]record, error) {
	if len(e.GetData()) == 0 {
		return []record{noOpRecord{}}, nil
	}
	_, recs, err := decodeBatch(e.GetData())
	if err != nil {
		return nil, fmt.Errorf("entry %d: %w", e.GetIndex(), err)
	}
	return recs, nil
}

// Save persists one Ready's snapshot, entries and HardState (any may be
// empty), in that order, and returns once all are durable. An entry at
// index i replaces the stored entries from i on. A snapshot replaces the
// whole log: the metadata log restarts after the snapshot's offset. After
// an error every later call fails: the node must stop.
func (l *raftLog) Save(snap *raftpb.Snapshot, ents []*raftpb.Entry, hs *raftpb.HardState) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	var err error
	if !raft.IsEmptySnap(snap) {
		err = l.installSnapshot(snap)
	}
	if err == nil && len(ents) > 0 {
		err = l.append(ents)
	}
	if err == nil && !raft.IsEmptyHardState(hs) {
		err = l.saveHardState(hardStateOf(hs))
	}
	if err != nil {
		l.err = fmt.Errorf("raft log %s: save: %w", l.dir, err)
	}
	return l.err
}

// installSnapshot makes a leader's snapshot durable and restarts the
// metadata log after it. A crash in between leaves the snapshot file with
// the old log, which open reconciles the same way.
func (l *raftLog) installSnapshot(snap *raftpb.Snapshot) error {
	meta := snap.GetMetadata()
	offset, err := imageDataOffset(snap.GetData())
	if err != nil {
		return err
	}
	switch {
	case meta.GetIndex() <= l.snap.index:
		return fmt.Errorf("snapshot at %d is not newer than snapshot %d", meta.GetIndex(), l.snap.index)
	case meta.GetIndex() <= l.hs.commit:
		return fmt.Errorf("snapshot at %d is not past the commit index %d", meta.GetIndex(), l.hs.commit)
	case offset < int64(meta.GetIndex())-1:
		return fmt.Errorf("%w: snapshot at %d holds offset %d", ErrCorruptMetadata, meta.GetIndex(), offset)
	case !confStatesEqual(meta.GetConfState(), l.cs):
		return fmt.Errorf("snapshot at %d has voters %v, the configuration %v", meta.GetIndex(), meta.GetConfState(), l.cs)
	}
	if err := writeSnapshotFile(l.fs, l.dir, snap); err != nil {
		return err
	}
	l.snap = snapshotMeta{index: meta.GetIndex(), term: meta.GetTerm(), offset: offset}
	l.first, l.ents = l.snap.index+1, nil
	if err := l.log.TruncateFullyAndStartAt(offset + 1); err != nil {
		return err
	}
	return l.removeSnapshotsBefore(l.snap.index)
}

// append writes ents to the metadata log, after cutting off any stored
// entries from the first one's index on, and flushes it.
func (l *raftLog) append(ents []*raftpb.Entry) error {
	i0 := ents[0].GetIndex()
	switch {
	case i0 < l.firstIndex() || i0 <= l.hs.commit:
		return fmt.Errorf("entry %d would replace a compacted or committed entry (first %d, commit %d)", i0, l.firstIndex(), l.hs.commit)
	case i0 > l.lastIndex()+1:
		return fmt.Errorf("entry %d leaves a gap after entry %d", i0, l.lastIndex())
	case i0 <= l.lastIndex():
		cut := l.ents[i0-l.first].base
		l.ents = l.ents[:i0-l.first]
		if err := l.log.TruncateTo(cut); err != nil {
			return err
		}
	}
	prevTerm := l.mustTerm(i0 - 1)
	for j, e := range ents {
		term := e.GetTerm()
		switch {
		case e.GetIndex() != i0+uint64(j):
			return fmt.Errorf("entry %d follows entry %d", e.GetIndex(), i0+uint64(j)-1)
		case e.GetType() != raftpb.EntryNormal:
			return fmt.Errorf("entry %d is a %v: the voter set is static", e.GetIndex(), e.GetType())
		case term < prevTerm || term == 0 || term > math.MaxInt32:
			return fmt.Errorf("entry %d has term %d after term %d", e.GetIndex(), term, prevTerm)
		}
		var data []byte
		if len(e.GetData()) == 0 {
			data = encodeBatch([]record{noOpRecord{}}, 0)
		} else {
			data = slices.Clone(e.GetData()) // Append sets offsets in place; raft's copy is not ours
		}
		batch, err := segment.ValidateBatch(data, l.log.Config().BatchBytesMax)
		if err != nil {
			return fmt.Errorf("entry %d: %w", e.GetIndex(), err)
		}
		res, err := l.log.Append(batch, int32(term))
		if err != nil {
			return fmt.Errorf("append entry %d: %w", e.GetIndex(), err)
		}
		if want := l.nextOffset(); res.BaseOffset != want {
			return fmt.Errorf("entry %d appended at offset %d, want %d: another writer?", e.GetIndex(), res.BaseOffset, want)
		}
		l.ents = append(l.ents, entryPos{term: term, base: res.BaseOffset, last: res.LastOffset, bytes: int64(len(data))})
		prevTerm = term
	}
	return l.log.Flush()
}

func (l *raftLog) saveHardState(hs hardState) error {
	if hs.commit > l.lastIndex() {
		return fmt.Errorf("HardState commits entry %d, the log ends at %d", hs.commit, l.lastIndex())
	}
	if hs == l.hs {
		return nil
	}
	if err := writeHardState(l.fs, l.dir, hs); err != nil {
		return err
	}
	l.hs = hs
	return nil
}

// CreateSnapshot records a snapshot at committed entry index, whose image
// data (encodeImage) must be at that entry's last offset, then trims the
// log, keeping entries index-keep+1 to index readable. It returns
// raft.ErrSnapOutOfDate when a snapshot at index or later exists. The
// snapshot is durable when it returns.
func (l *raftLog) CreateSnapshot(index uint64, data []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	if index <= l.snap.index {
		return raft.ErrSnapOutOfDate
	}
	if index > l.hs.commit {
		return fmt.Errorf("raft log %s: snapshot at %d beyond the commit index %d", l.dir, index, l.hs.commit)
	}
	p := l.ents[index-l.first]
	offset, err := imageDataOffset(data)
	if err != nil {
		return fmt.Errorf("raft log %s: snapshot at entry %d: %w", l.dir, index, err)
	}
	if offset != p.last {
		return fmt.Errorf("raft log %s: snapshot at entry %d (offsets %d-%d) of an image at offset %d", l.dir, index, p.base, p.last, offset)
	}
	meta := &raftpb.SnapshotMetadata{ConfState: proto.Clone(l.cs).(*raftpb.ConfState), Index: new(index), Term: new(p.term)}
	if err := writeSnapshotFile(l.fs, l.dir, &raftpb.Snapshot{Metadata: meta, Data: data}); err != nil {
		return fmt.Errorf("raft log %s: %w", l.dir, err)
	}
	l.snap = snapshotMeta{index: index, term: p.term, offset: p.last}
	if err := l.trim(); err != nil {
		l.err = fmt.Errorf("raft log %s: trim: %w", l.dir, err)
		return l.err
	}
	if err := l.removeSnapshotsBefore(index); err != nil {
		return fmt.Errorf("raft log %s: %w", l.dir, err)
	}
	return nil
}

// trim drops the entries before the snapshot that are not to be kept,
// advancing the metadata log's start. The entry before the first kept one
// stays in the table for its term, unless the snapshot is that entry.
func (l *raftLog) trim() error {
	var first uint64
	switch {
	case l.keep == 0:
		first = l.snap.index + 1
	case l.snap.index > l.keep:
		first = l.snap.index - l.keep
	default:
		return nil
	}
	if first <= l.first {
		return nil
	}
	start := l.snap.offset + 1
	if first <= l.lastIndex() {
		start = l.ents[first-l.first].base
	}
	l.ents = slices.Clone(l.ents[first-l.first:])
	l.first = first
	return l.log.AdvanceLogStart(start)
}

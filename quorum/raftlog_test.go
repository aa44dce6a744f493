package quorum

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"syscall"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/riffle/riffle/segment"
	"github.com/riffle/riffle/segment/vfs"
)

// rlStore is a node's raft log storage: a data dir on fs with the metadata
// log, and a raftLog over it.
type rlStore struct {
	t      testing.TB
	fs     vfs.FS
	dir    string // the data dir
	id     uint64
	voters []uint64
	keep   uint64
	dd     *segment.DataDir
	log    *segment.Log
	rl     *raftLog
}

// rlConfig rolls segments every few entries, so trims delete segments and
// truncations cross them.
func rlConfig() segment.Config {
	c := MetadataLogConfig(segment.DefaultConfig())
	c.SegmentBytes = 1024
	c.IndexBytesMax = 4096
	c.IndexIntervalBytes = 128
	return c
}

func newMemStore(t testing.TB, id uint64, voters ...uint64) (*rlStore, *vfs.MemFS) {
	mem := vfs.NewMemFS()
	if err := mem.MkdirAll("/data", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mem.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	return &rlStore{t: t, fs: mem, dir: "/data", id: id, voters: voters, keep: 3}, mem
}

// withEachFS runs fn on a store on the OS filesystem and on a MemFS.
func withEachFS(t *testing.T, fn func(t *testing.T, s *rlStore)) {
	t.Run("os", func(t *testing.T) {
		fn(t, &rlStore{t: t, fs: vfs.OS, dir: t.TempDir(), id: 1, voters: []uint64{1}, keep: 3})
	})
	t.Run("mem", func(t *testing.T) {
		s, _ := newMemStore(t, 1, 1)
		fn(t, s)
	})
}

func (s *rlStore) tryOpen() error {
	cfg := rlConfig()
	dd, err := segment.OpenDataDir(s.dir, func(string) segment.Config { return cfg }, segment.Options{FS: s.fs, Logger: quietLogger()})
	if err != nil {
		return err
	}
	log, err := dd.CreateLog(MetadataTopic, 0, cfg)
	if err != nil {
		return errors.Join(err, dd.Close())
	}
	rl, err := openRaftLog(s.fs, log.Dir(), log, &raftpb.ConfState{Voters: s.voters}, s.id, s.keep)
	if err != nil {
		return errors.Join(err, dd.Close())
	}
	s.dd, s.log, s.rl = dd, log, rl
	return nil
}

func (s *rlStore) open() *rlStore {
	s.t.Helper()
	if err := s.tryOpen(); err != nil {
		s.t.Fatal(err)
	}
	return s
}

func (s *rlStore) close() {
	s.t.Helper()
	if err := s.dd.Close(); err != nil {
		s.t.Fatal(err)
	}
	s.dd, s.log, s.rl = nil, nil, nil
}

// reopen closes the store cleanly and opens it again.
func (s *rlStore) reopen() *rlStore {
	s.close()
	return s.open()
}

// crashed is the store as a machine boots after power loss now (the store
// must be on a MemFS), opened.
func (s *rlStore) crashed(mem *vfs.MemFS) *rlStore {
	c := *s
	c.fs = mem.CrashClone()
	return c.open()
}

// testEntry is entry index of term with a batch of 1 to 3 records, or,
// when index is a multiple of 7, raft's empty entry.
func testEntry(index, term uint64) *raftpb.Entry {
	e := &raftpb.Entry{Index: new(index), Term: new(term), Type: new(raftpb.EntryNormal)}
	if index%7 != 0 {
		e.Data = encodeBatch(testRecords(index, term), int64(index))
	}
	return e
}

func testRecords(index, term uint64) []record {
	recs := make([]record, 1+index%3)
	for i := range recs {
		recs[i] = producerIDsRecord{BlockEnd: int64(1000*index + 100*term + uint64(i))}
	}
	return recs
}

func testEntries(lo, hi, term uint64) []*raftpb.Entry {
	var ents []*raftpb.Entry
	for i := lo; i < hi; i++ {
		ents = append(ents, testEntry(i, term))
	}
	return ents
}

func hs(term, vote, commit uint64) *raftpb.HardState {
	return hardState{term: term, vote: vote, commit: commit}.proto()
}

func mustEntryRecords(t testing.TB, e *raftpb.Entry) []record {
	t.Helper()
	recs, err := entryRecords(e)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// checkEntries checks that the store returns exactly want (by index, term
// and records), that entries' offsets follow one another, and that the
// stored batch of each carries its offsets and term.
func checkEntries(t testing.TB, rl *raftLog, want []*raftpb.Entry) {
	t.Helper()
	if len(want) == 0 {
		return
	}
	lo, hi := want[0].GetIndex(), want[len(want)-1].GetIndex()+1
	got, err := rl.Entries(lo, hi, math.MaxUint64)
	if err != nil {
		t.Fatalf("Entries(%d, %d): %v", lo, hi, err)
	}
	if len(got) != len(want) {
		t.Fatalf("Entries(%d, %d) gave %d entries", lo, hi, len(got))
	}
	var next int64 = -1
	for i, g := range got {
		w := want[i]
		if g.GetIndex() != w.GetIndex() || g.GetTerm() != w.GetTerm() || g.GetType() != raftpb.EntryNormal {
			t.Fatalf("entry %d: got index %d term %d, want term %d", w.GetIndex(), g.GetIndex(), g.GetTerm(), w.GetTerm())
		}
		if !reflect.DeepEqual(mustEntryRecords(t, g), mustEntryRecords(t, w)) {
			t.Fatalf("entry %d: records differ", w.GetIndex())
		}
		if term, err := rl.Term(w.GetIndex()); err != nil || term != w.GetTerm() {
			t.Fatalf("Term(%d) = %d, %v; want %d", w.GetIndex(), term, err, w.GetTerm())
		}
		base, last, err := rl.entryOffsets(g.GetIndex())
		h, _ := segment.ParseBatchHeader(g.GetData())
		if err != nil || h.BaseOffset != base || h.LastOffset() != last || uint64(h.PartitionLeaderEpoch) != g.GetTerm() {
			t.Fatalf("entry %d: offsets %d-%d (%v), batch header %d-%d epoch %d", g.GetIndex(), base, last, err,
				h.BaseOffset, h.LastOffset(), h.PartitionLeaderEpoch)
		}
		if next >= 0 && base != next {
			t.Fatalf("entry %d starts at offset %d, want %d", g.GetIndex(), base, next)
		}
		next = last + 1
	}
}

// checkBounds checks FirstIndex, LastIndex and the errors just outside.
func checkBounds(t testing.TB, rl *raftLog, first, last uint64) {
	t.Helper()
	f, err1 := rl.FirstIndex()
	l, err2 := rl.LastIndex()
	if f != first || l != last || err1 != nil || err2 != nil {
		t.Fatalf("FirstIndex %d (%v), LastIndex %d (%v); want %d, %d", f, err1, l, err2, first, last)
	}
	if _, err := rl.Term(first - 1); err != nil {
		t.Fatalf("Term(%d), before the first entry: %v", first-1, err)
	}
	if first > 1 {
		if _, err := rl.Term(first - 2); err != raft.ErrCompacted {
			t.Fatalf("Term(%d): %v, want ErrCompacted", first-2, err)
		}
		if _, err := rl.Entries(first-1, last+1, math.MaxUint64); err != raft.ErrCompacted {
			t.Fatalf("Entries(%d, %d): %v, want ErrCompacted", first-1, last+1, err)
		}
	}
	if _, err := rl.Term(last + 1); err != raft.ErrUnavailable {
		t.Fatalf("Term(%d): %v, want ErrUnavailable", last+1, err)
	}
	if _, err := rl.Entries(first, last+2, math.MaxUint64); err != raft.ErrUnavailable {
		t.Fatalf("Entries(%d, %d): %v, want ErrUnavailable", first, last+2, err)
	}
}

func checkHardState(t testing.TB, rl *raftLog, want *raftpb.HardState) {
	t.Helper()
	got, cs, err := rl.InitialState()
	if err != nil || !proto.Equal(got, want) || !slices.Equal(cs.GetVoters(), rl.cs.GetVoters()) {
		t.Fatalf("InitialState: %v %v %v; want %v", got, cs, err, want)
	}
}

func mustSave(t testing.TB, rl *raftLog, snap *raftpb.Snapshot, ents []*raftpb.Entry, h *raftpb.HardState) {
	t.Helper()
	if err := rl.Save(snap, ents, h); err != nil {
		t.Fatal(err)
	}
}

func TestRaftLogSaveEntriesRoundTrip(t *testing.T) {
	withEachFS(t, func(t *testing.T, s *rlStore) {
		rl := s.open().rl
		checkBounds(t, rl, 1, 0)
		checkHardState(t, rl, hs(0, 0, 0))
		if snap, err := rl.Snapshot(); err != nil || !raft.IsEmptySnap(snap) {
			t.Fatalf("Snapshot of a fresh log: %v, %v", snap, err)
		}
		ents := append(testEntries(1, 10, 1), testEntries(10, 25, 2)...)
		mustSave(t, rl, nil, ents[:12], hs(2, 1, 0))
		mustSave(t, rl, nil, ents[12:], hs(2, 1, 20))
		check := func(rl *raftLog) {
			t.Helper()
			checkBounds(t, rl, 1, 24)
			checkHardState(t, rl, hs(2, 1, 20))
			checkEntries(t, rl, ents)
			checkEntries(t, rl, ents[5:9])
		}
		check(rl)
		// maxSize: at least one entry, then as many as fit.
		if got, err := rl.Entries(3, 20, 0); err != nil || len(got) != 1 {
			t.Fatalf("Entries with maxSize 0: %d entries, %v", len(got), err)
		}
		all, _ := rl.Entries(3, 20, math.MaxUint64)
		three := uint64(proto.Size(all[0]) + proto.Size(all[1]) + proto.Size(all[2]))
		if got, err := rl.Entries(3, 20, three); err != nil || len(got) != 3 {
			t.Fatalf("Entries with room for 3: %d entries, %v", len(got), err)
		}
		if got, err := rl.Entries(3, 20, three-1); err != nil || len(got) != 2 {
			t.Fatalf("Entries with room for 2.9: %d entries, %v", len(got), err)
		}
		check(s.reopen().rl)
	})
}

// An entry at index i replaces the stored entries from i on, in the
// segment log as in the table, across segments and a restart.
func TestRaftLogConflictingSuffix(t *testing.T) {
	withEachFS(t, func(t *testing.T, s *rlStore) {
		rl := s.open().rl
		mustSave(t, rl, nil, testEntries(1, 30, 1), hs(1, 1, 5))
		segments := s.log.SegmentCount()
		repl := testEntries(12, 15, 2)
		mustSave(t, rl, nil, repl, hs(2, 0, 5))
		want := append(testEntries(1, 12, 1), repl...)
		check := func(s *rlStore) {
			t.Helper()
			checkBounds(t, s.rl, 1, 14)
			checkEntries(t, s.rl, want)
			if _, last, _ := s.rl.entryOffsets(14); s.log.LogEndOffset() != last+1 {
				t.Fatalf("metadata log ends at %d, entry 14 at %d", s.log.LogEndOffset(), last)
			}
		}
		check(s)
		if s.log.SegmentCount() >= segments {
			t.Fatalf("%d segments before and after the truncation: it should cross segments", segments)
		}
		check(s.reopen())
		// A committed entry is never replaced.
		if err := s.rl.Save(nil, testEntries(5, 6, 3), nil); err == nil {
			t.Fatal("Save replaced committed entry 5")
		}
		if _, err := s.rl.LastIndex(); err == nil {
			t.Fatal("a failed Save is not sticky")
		}
	})
}

// applyEntries applies entries to im as the node loop does, at the offsets
// the store gives them.
func applyEntries(t testing.TB, rl *raftLog, im *Image, ents []*raftpb.Entry) *Image {
	t.Helper()
	for _, e := range ents {
		_, last, err := rl.entryOffsets(e.GetIndex())
		if err != nil {
			t.Fatal(err)
		}
		if im, err = im.apply(mustEntryRecords(t, e), last); err != nil {
			t.Fatalf("apply entry %d: %v", e.GetIndex(), err)
		}
	}
	return im
}

func TestRaftLogSnapshotTrim(t *testing.T) {
	for _, keep := range []uint64{0, 4} {
		t.Run(fmt.Sprintf("keep %d", keep), func(t *testing.T) {
			withEachFS(t, func(t *testing.T, s *rlStore) {
				s.keep = keep
				rl := s.open().rl
				ents := append(testEntries(1, 20, 1), testEntries(20, 40, 3)...)
				mustSave(t, rl, nil, ents, hs(3, 1, 30))
				im := applyEntries(t, rl, emptyImage(0), ents[:25])
				if err := rl.CreateSnapshot(31, encodeImage(im)); err == nil {
					t.Fatal("snapshot beyond the commit index accepted")
				}
				if err := rl.CreateSnapshot(24, encodeImage(im)); err == nil {
					t.Fatal("snapshot at 24 of the image at 25 accepted")
				}
				if err := rl.CreateSnapshot(25, encodeImage(im)); err != nil {
					t.Fatal(err)
				}
				if err := rl.CreateSnapshot(25, encodeImage(im)); err != raft.ErrSnapOutOfDate {
					t.Fatalf("second snapshot at 25: %v, want ErrSnapOutOfDate", err)
				}
				check := func(s *rlStore) {
					t.Helper()
					checkBounds(t, s.rl, 26-keep, 39)
					checkEntries(t, s.rl, ents[25-keep:])
					checkHardState(t, s.rl, hs(3, 1, 30))
					snap, err := s.rl.Snapshot()
					if err != nil {
						t.Fatal(err)
					}
					m := snap.GetMetadata()
					if m.GetIndex() != 25 || m.GetTerm() != 3 || !slices.Equal(m.GetConfState().GetVoters(), s.voters) {
						t.Fatalf("snapshot metadata %v", m)
					}
					got, err := decodeImage(snap.GetData(), 0)
					if err != nil || !reflect.DeepEqual(got, im) {
						t.Fatalf("snapshot image: %v\n%s\nwant\n%s", err, formatImage(got), formatImage(im))
					}
					_, last, _ := s.rl.entryOffsets(25 - max(keep, 1) + 1)
					if start := s.log.LogStartOffset(); keep == 0 && start != im.Offset+1 || keep > 0 && start > last {
						t.Fatalf("metadata log starts at %d; the image is at %d", start, im.Offset)
					}
				}
				check(s)
				if keep > 0 && s.log.SegmentCount() > 3 {
					t.Fatalf("%d segments left after the trim", s.log.SegmentCount())
				}
				check(s.reopen())
				// The next snapshot replaces this one.
				mustSave(t, s.rl, nil, nil, hs(3, 1, 39))
				im = applyEntries(t, s.rl, im, ents[25:])
				if err := s.rl.CreateSnapshot(39, encodeImage(im)); err != nil {
					t.Fatal(err)
				}
				names, _ := snapshotFiles(s.fs, s.log.Dir())
				if !slices.Equal(names, []string{snapshotName(39, 3)}) {
					t.Fatalf("snapshot files %v", names)
				}
				checkBounds(t, s.reopen().rl, 40-keep, 39)
			})
		})
	}
}

// A follower installs a leader's snapshot: its log is replaced and
// continues after the snapshot's offset.
func TestRaftLogInstallSnapshot(t *testing.T) {
	withEachFS(t, func(t *testing.T, s *rlStore) {
		rl := s.open().rl
		mustSave(t, rl, nil, testEntries(1, 12, 1), hs(1, 0, 4))
		im := emptyImage(0)
		im, err := im.apply([]record{clusterIDRecord{ClusterID: "c"}}, 99)
		if err != nil {
			t.Fatal(err)
		}
		snap := &raftpb.Snapshot{Data: encodeImage(im), Metadata: &raftpb.SnapshotMetadata{
			Index: new(uint64(40)), Term: new(uint64(3)), ConfState: &raftpb.ConfState{Voters: s.voters}}}
		after := testEntries(41, 44, 3)
		mustSave(t, rl, snap, after, hs(3, 0, 42))
		check := func(s *rlStore) {
			t.Helper()
			checkBounds(t, s.rl, 41, 43)
			checkEntries(t, s.rl, after)
			if base, _, _ := s.rl.entryOffsets(41); base != 100 {
				t.Fatalf("entry 41 at offset %d, want 100", base)
			}
			got, err := s.rl.Snapshot()
			if err != nil || !proto.Equal(got, raftpb.EnsureSnapshot(snap)) {
				t.Fatalf("Snapshot: %v, %v", got, err)
			}
		}
		check(s)
		check(s.reopen())
		if err := s.rl.Save(snap, nil, nil); err == nil {
			t.Fatal("the same snapshot installed twice")
		}
	})
}

// A snapshot of other voters than the configuration's is refused at open.
func TestRaftLogVotersChanged(t *testing.T) {
	s, _ := newMemStore(t, 1, 1)
	rl := s.open().rl
	mustSave(t, rl, nil, testEntries(1, 5, 1), hs(1, 1, 4))
	im := applyEntries(t, rl, emptyImage(0), testEntries(1, 5, 1))
	if err := rl.CreateSnapshot(4, encodeImage(im)); err != nil {
		t.Fatal(err)
	}
	s.close()
	s.voters = []uint64{1, 2, 3}
	if err := s.tryOpen(); err == nil {
		t.Fatal("opened with other voters than the snapshot's")
	}
}

// Migration: a metadata log written by the single-node Controller opens
// unchanged as entries 1..N of term 1, all committed; its records rebuild
// the Controller's image.
func TestRaftLogMigratesSingleNodeLog(t *testing.T) {
	n := newNode(t)
	ctrl, stop := n.open(self)
	changeAll(t, ctrl)
	want := ctrl.Image()
	stop()
	batches := func(s *rlStore) [][]byte {
		r, err := s.log.Read(0, math.MaxInt32, math.MaxInt64, true)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Release()
		b := make([]byte, r.Len)
		if _, err := r.File.ReadAt(b, r.Pos); err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for len(b) > 0 {
			h, _ := segment.ParseBatchHeader(b)
			out = append(out, b[:h.Size()])
			b = b[h.Size():]
		}
		return out
	}

	s := &rlStore{t: t, fs: n.fs, dir: n.dir, id: 1, voters: []uint64{1, 2, 3}}
	if err := s.tryOpen(); err == nil || !errors.Is(err, errNotSingleVoter) {
		t.Fatalf("opened a single-node log with three voters: %v", err)
	}
	if _, found, _ := readHardState(s.fs, filepath.Join(s.dir, MetadataTopic+"-0")); found {
		t.Fatal("a refused migration wrote the HardState")
	}
	s.voters = []uint64{1}
	s.open()
	legacy := batches(s)
	N := uint64(len(legacy))
	if N < 5 {
		t.Fatalf("the controller wrote %d batches", N)
	}
	check := func(s *rlStore) {
		t.Helper()
		checkBounds(t, s.rl, 1, N)
		checkHardState(t, s.rl, hs(1, 0, N))
		got, err := s.rl.Entries(1, N+1, math.MaxUint64)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range got {
			if e.GetTerm() != 1 || !slices.Equal(e.GetData(), legacy[i]) {
				t.Fatalf("entry %d: term %d, data differs from the batch", e.GetIndex(), e.GetTerm())
			}
		}
		im := applyEntries(t, s.rl, emptyImage(1), got)
		if !reflect.DeepEqual(im, want) {
			t.Fatalf("image from the entries:\n%s\nthe controller's:\n%s", formatImage(im), formatImage(want))
		}
	}
	check(s)
	// Raft carries on in a later term, after the legacy entries.
	mustSave(t, s.rl, nil, []*raftpb.Entry{testEntry(N+1, 2)}, hs(2, 1, N+1))
	s.reopen()
	if !slices.EqualFunc(batches(s)[:N], legacy, slices.Equal) {
		t.Fatal("legacy batches changed")
	}
	checkBounds(t, s.rl, 1, N+1)
	checkHardState(t, s.rl, hs(2, 1, N+1))
}

// crashStep is one call of the node loop: a Save, or with snapshotAt a
// CreateSnapshot at that index of the image the entries up to it build.
type crashStep struct {
	snap       *raftpb.Snapshot
	ents       []*raftpb.Entry
	hs         *raftpb.HardState
	snapshotAt uint64
}

func (c crashStep) run(t testing.TB, rl *raftLog) error {
	if c.snapshotAt == 0 {
		return rl.Save(c.snap, c.ents, c.hs)
	}
	// The image at the previous snapshot, then the entries after it.
	snap, err := rl.Snapshot()
	if err != nil {
		return err
	}
	im := emptyImage(0)
	if !raft.IsEmptySnap(snap) {
		if im, err = decodeImage(snap.GetData(), 0); err != nil {
			return err
		}
	}
	ents, err := rl.Entries(snap.GetMetadata().GetIndex()+1, c.snapshotAt+1, math.MaxUint64)
	if err != nil {
		return err
	}
	return rl.CreateSnapshot(c.snapshotAt, encodeImage(applyEntries(t, rl, im, ents)))
}

// rlModel is what a raft log must hold once steps returned: its entries'
// terms by index and HardState; entries at or below snap are covered by
// the snapshot.
type rlModel struct {
	terms              map[uint64]uint64
	term, vote, commit uint64
	snap               uint64
}

func (m rlModel) after(c crashStep) rlModel {
	next := m
	next.terms = maps.Clone(m.terms)
	if c.snapshotAt > 0 {
		next.snap = c.snapshotAt
		return next
	}
	if !raft.IsEmptySnap(c.snap) {
		next.snap, next.terms = c.snap.GetMetadata().GetIndex(), map[uint64]uint64{}
	}
	if len(c.ents) > 0 {
		for i := range next.terms {
			if i >= c.ents[0].GetIndex() {
				delete(next.terms, i)
			}
		}
		for _, e := range c.ents {
			next.terms[e.GetIndex()] = e.GetTerm()
		}
	}
	if c.hs != nil {
		next.term, next.vote, next.commit = c.hs.GetTerm(), c.hs.GetVote(), c.hs.GetCommit()
	}
	return next
}

func crashWorkload() []crashStep {
	snapImage, _ := emptyImage(0).apply([]record{clusterIDRecord{ClusterID: "c"}}, 60)
	return []crashStep{
		{ents: testEntries(1, 7, 1), hs: hs(1, 1, 0)},
		{hs: hs(1, 1, 4)},
		{ents: testEntries(5, 10, 2), hs: hs(2, 0, 4)}, // replaces 5 and 6
		{ents: testEntries(10, 15, 2), hs: hs(2, 0, 9)},
		{snapshotAt: 8},
		{ents: testEntries(15, 17, 3), hs: hs(3, 1, 14)},
		{snapshotAt: 14},
		{snap: &raftpb.Snapshot{Data: encodeImage(snapImage), Metadata: &raftpb.SnapshotMetadata{
			Index: new(uint64(30)), Term: new(uint64(4)), ConfState: &raftpb.ConfState{Voters: []uint64{1}}}},
			ents: testEntries(31, 34, 4), hs: hs(4, 0, 31)},
		{ents: testEntries(34, 35, 4), hs: hs(4, 0, 34)},
	}
}

// Power loss at every filesystem operation of opening, Save and
// CreateSnapshot (and the operation failing, which stops the workload):
// the store opens, holds every entry its last durable HardState committed
// (or a snapshot covering it), holds only entries that were written, and
// its HardState is never behind the last returned one nor ahead of its
// entries.
func TestRaftLogCrashAtEveryStep(t *testing.T) {
	steps := crashWorkload()
	written := map[[2]uint64][]record{}
	models := []rlModel{{terms: map[uint64]uint64{}}}
	for _, c := range steps {
		for _, e := range c.ents {
			written[[2]uint64{e.GetIndex(), e.GetTerm()}] = mustEntryRecords(t, e)
		}
		models = append(models, models[len(models)-1].after(c))
	}
	crashes := 0
	for k := 1; ; k++ {
		mem := vfs.NewMemFS()
		if err := mem.MkdirAll("/data", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := mem.SyncDir("/"); err != nil {
			t.Fatal(err)
		}
		var ops, step int
		var crashed *vfs.MemFS
		var durable rlModel
		inject := func(vfs.Op, string) error {
			if ops++; ops == k {
				crashed, durable = mem.CrashClone(), models[step]
				return syscall.EIO
			}
			return nil
		}
		s := &rlStore{t: t, fs: vfs.Inject(mem, inject), dir: "/data", id: 1, voters: []uint64{1}, keep: 2}
		if err := s.tryOpen(); err == nil {
			for ; step < len(steps); step++ {
				if err := steps[step].run(t, s.rl); err != nil {
					if crashed == nil {
						t.Fatalf("step %d: %v", step, err)
					}
					break
				}
			}
		} else if crashed == nil {
			t.Fatal(err)
		}
		if crashed == nil {
			if step != len(steps) {
				t.Fatalf("workload stopped at step %d without a failure", step)
			}
			break
		}
		crashes++
		after := &rlStore{t: t, fs: crashed, dir: "/data", id: 1, voters: []uint64{1}, keep: 2}
		if err := after.tryOpen(); err != nil {
			t.Fatalf("crash at operation %d (step %d): open: %v", k, step, err)
		}
		checkCrashed(t, after.rl, durable, written, fmt.Sprintf("crash at operation %d (step %d)", k, step))
	}
	t.Logf("%d crash points", crashes)
	if crashes < 100 {
		t.Fatalf("only %d crash points", crashes)
	}
}

func checkCrashed(t *testing.T, rl *raftLog, durable rlModel, written map[[2]uint64][]record, what string) {
	t.Helper()
	h, _, err := rl.InitialState()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	first, _ := rl.FirstIndex()
	last, _ := rl.LastIndex()
	if h.GetTerm() < durable.term || h.GetTerm() == durable.term && durable.vote != 0 && h.GetVote() != durable.vote ||
		h.GetCommit() < durable.commit || h.GetCommit() > last {
		t.Fatalf("%s: HardState %v, durable term %d vote %d commit %d, entries to %d", what, h, durable.term, durable.vote, durable.commit, last)
	}
	// A term behind the log's last would let this node lead a term lower
	// than entries it holds.
	if lastTerm, err := rl.Term(last); err != nil || h.GetTerm() < lastTerm {
		t.Fatalf("%s: HardState term %d, the last entry's %d (%v)", what, h.GetTerm(), lastTerm, err)
	}
	// Entries before first are covered by the snapshot, which is not older
	// than the last one made durable.
	if snap, err := rl.Snapshot(); err != nil || snap.GetMetadata().GetIndex() < max(durable.snap, first-1) {
		t.Fatalf("%s: snapshot at %d (%v), entries from %d, the durable snapshot at %d", what, snap.GetMetadata().GetIndex(), err, first, durable.snap)
	}
	var ents []*raftpb.Entry
	if last >= first {
		if ents, err = rl.Entries(first, last+1, math.MaxUint64); err != nil {
			t.Fatalf("%s: Entries(%d, %d): %v", what, first, last+1, err)
		}
	}
	if len(ents) != int(last+1-first) {
		t.Fatalf("%s: %d entries from %d to %d", what, len(ents), first, last)
	}
	for _, e := range ents {
		want, ok := written[[2]uint64{e.GetIndex(), e.GetTerm()}]
		if !ok || !reflect.DeepEqual(mustEntryRecords(t, e), want) {
			t.Fatalf("%s: entry %d of term %d was never written so", what, e.GetIndex(), e.GetTerm())
		}
	}
	for i, term := range durable.terms {
		if i > durable.commit || i < first {
			continue
		}
		if got, err := rl.Term(i); err != nil || got != term {
			t.Fatalf("%s: committed entry %d of term %d is now %d, %v", what, i, term, got, err)
		}
	}
}

// Entries that a HardState committed, or that no snapshot covers, missing
// from the log (a disk that lost writes) fail the open rather than let raft
// start on a log that forgot what it acknowledged.
func TestRaftLogRefusesLostEntries(t *testing.T) {
	for name, lose := range map[string]func(s *rlStore) error{
		"committed tail": func(s *rlStore) error {
			base, _, _ := s.rl.entryOffsets(4)
			return s.log.TruncateTo(base)
		},
		"head without snapshot": func(s *rlStore) error {
			base, _, _ := s.rl.entryOffsets(3)
			return s.log.AdvanceLogStart(base)
		},
	} {
		t.Run(name, func(t *testing.T) {
			s, _ := newMemStore(t, 1, 1)
			mustSave(t, s.open().rl, nil, testEntries(1, 8, 1), hs(1, 1, 6))
			if err := lose(s); err != nil {
				t.Fatal(err)
			}
			if err := s.dd.CheckpointRecoveryPoints(); err != nil {
				t.Fatal(err)
			}
			s.close()
			if err := s.tryOpen(); !errors.Is(err, ErrCorruptMetadata) {
				t.Fatalf("open: %v, want ErrCorruptMetadata", err)
			}
		})
	}
}

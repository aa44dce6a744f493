package replica

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/segment"
	"github.com/riffle/riffle/segment/vfs"
)

const testTopic = "t"

// harness is one partition on a real segment log in its own temp dir (or
// on fs, a MemFS, when set), with restarts.
type harness struct {
	t    *testing.T
	dir  string
	fs   *vfs.MemFS
	cfg  segment.Config
	opts Options
	dd   *segment.DataDir
	p    *Partition
}

func newHarness(t *testing.T, configure func(*segment.Config, *Options)) *harness {
	t.Helper()
	return newHarnessOn(t, t.TempDir(), nil, configure)
}

// newHarnessOn opens the harness's data dir at dir on fs (the OS when nil).
func newHarnessOn(t *testing.T, dir string, fs *vfs.MemFS, configure func(*segment.Config, *Options)) *harness {
	t.Helper()
	h := &harness{t: t, dir: dir, fs: fs, cfg: segment.DefaultConfig(),
		opts: Options{Topic: testTopic, NodeID: 1, LeaderEpoch: 5}}
	if configure != nil {
		configure(&h.cfg, &h.opts)
	}
	h.open()
	t.Cleanup(func() {
		if h.dd != nil {
			h.closeLog()
		}
	})
	return h
}

func (h *harness) open() {
	h.t.Helper()
	var opts segment.Options
	if h.fs != nil {
		opts.FS = h.fs
	}
	dd, err := segment.OpenDataDir(h.dir, func(string) segment.Config { return h.cfg }, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	log, err := dd.CreateLog(testTopic, 0, h.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.dd = dd
	popts := h.opts
	if hw, ok := dd.HighWatermark(testTopic, 0); ok { // as the replica manager opens it
		popts.HighWatermark = hw
	}
	if h.p, err = Open(log, popts); err != nil {
		h.t.Fatal(err)
	}
}

// closeLog closes the log under the partition without closing the
// partition, as a crash would leave the producer-state snapshots.
func (h *harness) closeLog() {
	h.t.Helper()
	if err := h.dd.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.dd = nil
}

// restart reopens log and partition; clean closes the partition first.
func (h *harness) restart(clean bool) {
	h.t.Helper()
	if clean {
		if err := h.p.Close(); err != nil {
			h.t.Fatal(err)
		}
	}
	h.closeLog()
	h.open()
}

func (h *harness) snapshotOffsets() []int64 {
	h.t.Helper()
	h.p.snapshotting.Wait() // due snapshots are written in the background
	offsets, err := snapshotDirOf(h.p.Log()).list()
	if err != nil {
		h.t.Fatal(err)
	}
	return offsets
}

// idem is an idempotent batch of n records.
func idem(pid int64, epoch int16, seq int32, n int) segment.Batch {
	return batchOf(segment.BatchSpec{BaseTimestamp: 1000, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}, n)
}

// plain is a batch of n records without a producer id.
func plain(n int) segment.Batch {
	return batchOf(segment.BatchSpec{BaseTimestamp: 1000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, n)
}

func batchOf(spec segment.BatchSpec, n int) segment.Batch {
	recs := make([]segment.Record, n)
	for i := range recs {
		recs[i] = segment.Record{Value: fmt.Appendf(nil, "record %d", i), TimestampDelta: int64(i)}
	}
	return valid(segment.EncodeBatch(nil, spec, recs))
}

// valid validates a batch the test built.
func valid(b []byte) segment.Batch {
	v, err := segment.ValidateBatch(b, math.MaxInt32)
	if err != nil {
		panic(fmt.Sprintf("test batch invalid: %v", err))
	}
	return v
}

// mustAppendAcks appends with acks and fails the test on an error.
func (h *harness) mustAppendAcks(batch segment.Batch, acks int16) AppendResult {
	h.t.Helper()
	res, err := h.p.AppendAsLeader(batch, acks, -1)
	if err != nil {
		h.t.Fatalf("append with acks=%d: %v", acks, err)
	}
	return res
}

// mustAppend appends and checks the offsets, returning the result.
func (h *harness) mustAppend(batch segment.Batch, wantBase int64, wantDup bool) AppendResult {
	h.t.Helper()
	hdr := batch.Header()
	res, err := h.p.AppendAsLeader(batch, -1, -1)
	if err != nil {
		h.t.Fatalf("append at %d: %v", wantBase, err)
	}
	if res.BaseOffset != wantBase || res.LastOffset != wantBase+int64(hdr.LastOffsetDelta) || res.Duplicate != wantDup {
		h.t.Fatalf("append: %+v, want base %d duplicate %v", res, wantBase, wantDup)
	}
	return res
}

// readBatches reads from offset and returns the batch headers in the region.
func (h *harness) readBatches(offset int64, iso Isolation) ([]segment.BatchHeader, ReadResult) {
	h.t.Helper()
	rr, err := h.p.Read(offset, 1<<20, iso, true, -1)
	if err != nil {
		h.t.Fatalf("read at %d: %v", offset, err)
	}
	defer rr.Region.Release()
	buf := make([]byte, rr.Region.Len)
	if rr.Region.Len > 0 {
		if _, err := rr.Region.File.ReadAt(buf, rr.Region.Pos); err != nil {
			h.t.Fatal(err)
		}
	}
	var hdrs []segment.BatchHeader
	for len(buf) > 0 {
		hdr, err := segment.ParseBatchHeader(buf)
		if err == nil && hdr.Size() > int64(len(buf)) {
			err = fmt.Errorf("batch of %d bytes, %d left", hdr.Size(), len(buf))
		}
		if err == nil {
			_, err = segment.ValidateBatch(buf[:hdr.Size()], 1<<20)
		}
		if err != nil {
			h.t.Fatalf("batch in region at offset %d: %v", offset, err)
		}
		hdrs = append(hdrs, hdr)
		buf = buf[hdr.Size():]
	}
	return hdrs, rr
}

func TestAppendAndRead(t *testing.T) {
	h := newHarness(t, nil)
	want := []int64{0, 3, 4}
	for i, n := range []int{3, 1, 2} {
		h.mustAppend(plain(n), want[i], false)
		if hw, leo := h.p.HighWatermark(), h.p.Log().LogEndOffset(); hw != leo {
			t.Fatalf("HW %d, LEO %d: a single replica's HW follows LEO", hw, leo)
		}
	}
	hdrs, rr := h.readBatches(0, ReadUncommitted)
	if len(hdrs) != 3 || rr.HighWatermark != 6 || rr.LastStable != 6 || rr.LogStartOffset != 0 {
		t.Fatalf("read %d batches, result %+v", len(hdrs), rr)
	}
	for i, hdr := range hdrs {
		if hdr.BaseOffset != want[i] || hdr.PartitionLeaderEpoch != 5 {
			t.Fatalf("batch %d: base offset %d epoch %d, want %d and 5", i, hdr.BaseOffset, hdr.PartitionLeaderEpoch, want[i])
		}
	}
	if hdrs, _ := h.readBatches(4, ReadCommitted); len(hdrs) != 1 || hdrs[0].BaseOffset != 4 {
		t.Fatalf("read at 4: %+v", hdrs)
	}
	if hdrs, _ := h.readBatches(6, ReadUncommitted); len(hdrs) != 0 {
		t.Fatalf("read at LEO: %d batches, want none", len(hdrs))
	}
	if _, err := h.p.Read(7, 1<<20, ReadUncommitted, true, -1); !errors.Is(err, segment.ErrOffsetOutOfRange) {
		t.Fatalf("read beyond LEO: %v, want out of range", err)
	}
}

func TestReadAboveHighWatermarkIsEmpty(t *testing.T) {
	// A follower in the ISR that has not fetched yet holds HW at the log
	// start while appends move LEO: the gap a lagging follower leaves.
	h := newHarness(t, nil)
	if err := h.p.BecomeLeader(Leadership{Epoch: 6, Replicas: []ids.NodeID{1, 2}, ISR: []ids.NodeID{1, 2}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := h.p.AppendAsLeader(plain(2), 1, -1); err != nil {
			t.Fatal(err)
		}
	}
	if hw, leo := h.p.HighWatermark(), h.p.Log().LogEndOffset(); hw != 0 || leo != 6 {
		t.Fatalf("HW %d LEO %d, want 0 and 6", hw, leo)
	}
	for _, off := range []int64{0, 2, 6} {
		if hdrs, rr := h.readBatches(off, ReadUncommitted); len(hdrs) != 0 || rr.HighWatermark != 0 {
			t.Fatalf("consumer read at %d above HW: %d batches, HW %d", off, len(hdrs), rr.HighWatermark)
		}
	}
	if hdrs, _ := h.readBatches(2, ReadReplica); len(hdrs) != 2 {
		t.Fatalf("replica read at 2: %d batches, want 2", len(hdrs))
	}
	if _, err := h.p.Read(7, 1<<20, ReadUncommitted, true, -1); !errors.Is(err, segment.ErrOffsetOutOfRange) {
		t.Fatalf("read beyond LEO: %v, want out of range", err)
	}
}

func TestLeaderEpochChecks(t *testing.T) {
	h := newHarness(t, nil)
	for _, tt := range []struct {
		epoch int32
		want  error
	}{{-1, nil}, {5, nil}, {4, ErrFencedLeaderEpoch}, {6, ErrUnknownLeaderEpoch}} {
		if err := h.p.CheckLeaderEpoch(tt.epoch); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("check epoch %d: %v, want %v", tt.epoch, err, tt.want)
		}
		if _, err := h.p.AppendAsLeader(plain(1), 1, tt.epoch); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("append with epoch %d: %v, want %v", tt.epoch, err, tt.want)
		}
		rr, err := h.p.Read(0, 1<<20, ReadUncommitted, true, tt.epoch)
		if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("read with epoch %d: %v, want %v", tt.epoch, err, tt.want)
		}
		if err == nil {
			rr.Region.Release()
		}
	}
	if got := h.p.Log().LatestEpoch(); got != 5 {
		t.Fatalf("latest epoch %d, want 5", got)
	}
	h.opts.LeaderEpoch = 7
	h.restart(true)
	h.open()
	if epoch, end := h.p.Log().EndOffsetForEpoch(5); epoch != 5 || end != 2 {
		t.Fatalf("epoch 5 ends at (%d, %d), want (5, 2): epoch 7 starts at LEO 2", epoch, end)
	}
	if h.p.LeaderEpoch() != 7 || h.p.Log().LatestEpoch() != 7 {
		t.Fatalf("leader epoch %d, latest %d, want 7", h.p.LeaderEpoch(), h.p.Log().LatestEpoch())
	}
	if _, err := Open(h.p.Log(), Options{Topic: testTopic, LeaderEpoch: 6}); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("open with an epoch below the log's: %v", err)
	}
}

func TestWatchersWokenWhenHWMoves(t *testing.T) {
	h := newHarness(t, nil)
	ch := make(chan struct{}, 1)
	cancel := h.p.Watch(ch)
	h.mustAppend(idem(1, 0, 0, 1), 0, false)
	select {
	case <-ch:
	default:
		t.Fatal("no wake-up after an append moved HW")
	}
	h.mustAppend(idem(1, 0, 0, 1), 0, true)
	select {
	case <-ch:
		t.Fatal("woken by a duplicate, which moves nothing")
	default:
	}
	cancel()
	h.mustAppend(plain(1), 1, false)
	select {
	case <-ch:
		t.Fatal("woken after cancel")
	default:
	}
}

func TestIdempotentAppend(t *testing.T) {
	h := newHarness(t, nil)
	h.mustAppend(idem(9, 0, 0, 2), 0, false)
	h.mustAppend(plain(1), 2, false)
	first := h.mustAppend(idem(9, 0, 2, 3), 3, false)
	dup := h.mustAppend(idem(9, 0, 2, 3), 3, true)
	if dup.LastOffset != first.LastOffset || dup.MaxTimestamp != first.MaxTimestamp {
		t.Fatalf("duplicate %+v, original %+v", dup, first)
	}
	if leo := h.p.Log().LogEndOffset(); leo != 6 {
		t.Fatalf("LEO %d after a duplicate, want 6", leo)
	}
	for _, tt := range []struct {
		batch segment.Batch
		want  error
	}{
		{idem(9, 0, 6, 1), ErrOutOfOrderSequence},
		{idem(9, 1, 5, 1), ErrOutOfOrderSequence},
		{batchOf(segment.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Attributes: segment.AttrTransactional}, 1), segment.ErrCorruptBatch},
		{idem(9, 0, -1, 1), segment.ErrCorruptBatch},
	} {
		if _, err := h.p.AppendAsLeader(tt.batch, -1, -1); !errors.Is(err, tt.want) {
			t.Errorf("append: %v, want %v", err, tt.want)
		}
	}
	h.mustAppend(idem(9, 1, 0, 1), 6, false)
	if _, err := h.p.AppendAsLeader(idem(9, 0, 5, 1), -1, -1); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("stale epoch: %v", err)
	}
}

// produceSome appends producer 3's batches 0-1, 2-3, 4-5 at offsets 0, 2, 4.
func produceSome(h *harness) {
	h.t.Helper()
	for i := range int32(3) {
		h.mustAppend(idem(3, 0, 2*i, 2), int64(2*i), false)
	}
}

func TestProducerStateSurvivesRestart(t *testing.T) {
	for _, tt := range []struct {
		name          string
		clean         bool
		wantSnapshots []int64
	}{
		{"snapshot on close", true, []int64{6}},
		{"replay without snapshot", false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			produceSome(h)
			h.restart(tt.clean)
			if got := h.snapshotOffsets(); !slices.Equal(got, tt.wantSnapshots) {
				t.Fatalf("snapshots %v, want %v", got, tt.wantSnapshots)
			}
			h.mustAppend(idem(3, 0, 2, 2), 2, true)
			if _, err := h.p.AppendAsLeader(idem(3, 0, 7, 1), -1, -1); !errors.Is(err, ErrOutOfOrderSequence) {
				t.Fatalf("gap after restart: %v", err)
			}
			h.mustAppend(idem(3, 0, 6, 1), 6, false)
		})
	}
}

func TestSnapshotThenReplayTail(t *testing.T) {
	h := newHarness(t, nil)
	produceSome(h)
	if err := h.p.SnapshotProducers(); err != nil {
		t.Fatal(err)
	}
	h.mustAppend(idem(3, 0, 6, 1), 6, false)
	h.mustAppend(idem(4, 2, 100, 1), 7, false)
	h.restart(false)
	if got := h.snapshotOffsets(); !slices.Equal(got, []int64{6}) {
		t.Fatalf("snapshots %v, want [6]", got)
	}
	h.mustAppend(idem(3, 0, 4, 2), 4, true) // from the snapshot
	h.mustAppend(idem(3, 0, 6, 1), 6, true) // from the replayed tail
	h.mustAppend(idem(4, 2, 100, 1), 7, true)
	h.mustAppend(idem(4, 2, 101, 1), 8, false)
}

func TestCorruptSnapshotFallsBackToReplay(t *testing.T) {
	h := newHarness(t, nil)
	produceSome(h)
	if err := h.p.Close(); err != nil {
		t.Fatal(err)
	}
	h.closeLog()
	path := snapshotPath(filepath.Join(h.dir, testTopic+"-0"), 6)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	h.open()
	if got := h.snapshotOffsets(); len(got) != 0 {
		t.Fatalf("corrupt snapshot kept: %v", got)
	}
	h.mustAppend(idem(3, 0, 4, 2), 4, true)
	h.mustAppend(idem(3, 0, 6, 1), 6, false)
}

func TestTruncateBelowSnapshot(t *testing.T) {
	h := newHarness(t, nil)
	produceSome(h)
	if err := h.p.SnapshotProducers(); err != nil {
		t.Fatal(err)
	}
	if err := h.p.Log().TruncateTo(2); err != nil {
		t.Fatal(err)
	}
	h.closeLog()
	h.open()
	if got := h.snapshotOffsets(); len(got) != 0 {
		t.Fatalf("snapshot above LEO kept: %v", got)
	}
	// The batch at 2 is gone: its retry is appended again, not a duplicate,
	// and the truncated batch at 4 no longer counts as the last one.
	h.mustAppend(idem(3, 0, 2, 2), 2, false)
	if _, err := h.p.AppendAsLeader(idem(3, 0, 6, 1), -1, -1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence after the truncated batch: %v", err)
	}
}

// powerLoss reopens log and partition on what h.fs would hold after power
// loss now; the old ones are left as they are, unreachable.
func (h *harness) powerLoss() {
	h.t.Helper()
	h.fs = h.fs.CrashClone()
	h.open()
}

// Snapshots live on the log's filesystem and obey its crash semantics: a
// snapshot above the LEO that power loss left (the log's tail was not yet
// durable) is removed at open, durably, so it does not come back once the
// log has grown past it again with other batches.
func TestSnapshotsOnTheLogsFilesystem(t *testing.T) {
	mem := vfs.NewMemFS()
	if err := errors.Join(mem.MkdirAll("/data", 0o755), mem.SyncDir("/")); err != nil {
		t.Fatal(err)
	}
	h := newHarnessOn(t, "/data", mem, nil)
	produceSome(h)
	if err := h.p.SnapshotProducers(); err != nil {
		t.Fatal(err)
	}
	if got := h.snapshotOffsets(); !slices.Equal(got, []int64{6}) {
		t.Fatalf("snapshots %v on the MemFS, want [6]", got)
	}
	h.powerLoss() // the log was not flushed: it comes back empty
	if leo, got := h.p.Log().LogEndOffset(), h.snapshotOffsets(); leo != 0 || len(got) != 0 {
		t.Fatalf("after power loss LEO %d, snapshots %v; want 0, none", leo, got)
	}
	for i := range int32(4) {
		h.mustAppend(idem(4, 0, 2*i, 2), int64(2*i), false)
	}
	if err := h.p.Log().Flush(); err != nil {
		t.Fatal(err)
	}
	h.powerLoss()
	if leo, got := h.p.Log().LogEndOffset(), h.snapshotOffsets(); leo != 8 || len(got) != 0 {
		t.Fatalf("after the second power loss LEO %d, snapshots %v; want 8, none", leo, got)
	}
	// Producer 3's batches never were in this log: its sequence 0 is new.
	h.mustAppend(idem(3, 0, 0, 2), 8, false)
}

func TestSnapshotOnSegmentWorthOfBytes(t *testing.T) {
	batch := idem(3, 0, 0, 1)
	h := newHarness(t, func(c *segment.Config, _ *Options) { c.SegmentBytes = 3 * batch.Header().Size() })
	for i := range int32(5) {
		h.mustAppend(idem(3, 0, i, 1), int64(i), false)
	}
	if got := h.snapshotOffsets(); !slices.Equal(got, []int64{3}) {
		t.Fatalf("snapshots %v, want [3]: one after each segment.bytes appended", got)
	}
}

func TestProducersBelowLogStartForgotten(t *testing.T) {
	for _, tt := range []struct {
		name   string
		forget func(h *harness) error
	}{
		{"when snapshotting", func(h *harness) error { return h.p.SnapshotProducers() }},
		{"when loading an older snapshot", func(h *harness) error { h.restart(false); return nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			produceSome(h)
			h.mustAppend(idem(4, 0, 0, 1), 6, false)
			if err := h.p.SnapshotProducers(); err != nil {
				t.Fatal(err)
			}
			if err := h.p.Log().AdvanceLogStart(6); err != nil {
				t.Fatal(err)
			}
			if err := tt.forget(h); err != nil {
				t.Fatal(err)
			}
			h.mustAppend(idem(3, 0, 4711, 1), 7, false) // unknown again: any sequence
			if _, err := h.p.AppendAsLeader(idem(4, 0, 4711, 1), -1, -1); !errors.Is(err, ErrOutOfOrderSequence) {
				t.Fatalf("producer 4 is still in the log: %v", err)
			}
		})
	}
}

func TestClosedPartition(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.p.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := h.p.AppendAsLeader(plain(1), 1, -1); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := h.p.Read(0, 100, ReadUncommitted, true, -1); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	h := newHarness(t, nil)
	if _, err := Open(h.p.Log(), Options{MinInsyncReplicas: -1}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("min.insync.replicas -1: %v", err)
	}
}

func TestConcurrentProducers(t *testing.T) {
	h := newHarness(t, nil)
	const producers, batches = 8, 40
	errs := make(chan error, producers)
	for pid := range int64(producers) {
		go func() {
			for seq := range int32(batches) {
				first, err := h.p.AppendAsLeader(idem(pid, 0, seq, 1), -1, -1)
				if err != nil {
					errs <- err
					return
				}
				retry, err := h.p.AppendAsLeader(idem(pid, 0, seq, 1), -1, -1)
				if err != nil || !retry.Duplicate || retry.BaseOffset != first.BaseOffset {
					errs <- fmt.Errorf("producer %d seq %d: retry %+v, %v; first at %d", pid, seq, retry, err, first.BaseOffset)
					return
				}
			}
			errs <- nil
		}()
	}
	for range producers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	hdrs, _ := h.readBatches(0, ReadUncommitted)
	next := make(map[int64]int32)
	for _, hdr := range hdrs {
		if hdr.BaseSequence != next[hdr.ProducerID] {
			t.Fatalf("producer %d: sequence %d in the log, want %d", hdr.ProducerID, hdr.BaseSequence, next[hdr.ProducerID])
		}
		next[hdr.ProducerID]++
	}
	if len(hdrs) != producers*batches {
		t.Fatalf("%d batches in the log, want %d", len(hdrs), producers*batches)
	}
}

// BenchmarkAppendAsLeader appends 1-record batches of 100-byte values
// (uncompressed, acks=-1, no fsync per append, default segment config),
// encoding each batch included.
func BenchmarkAppendAsLeader(b *testing.B) {
	for _, idempotent := range []bool{false, true} {
		b.Run(fmt.Sprintf("idempotent=%v", idempotent), func(b *testing.B) {
			dd, err := segment.OpenDataDir(b.TempDir(), func(string) segment.Config { return segment.DefaultConfig() }, segment.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer dd.Close()
			log, err := dd.CreateLog(testTopic, 0, segment.DefaultConfig())
			if err != nil {
				b.Fatal(err)
			}
			p, err := Open(log, Options{Topic: testTopic})
			if err != nil {
				b.Fatal(err)
			}
			spec := segment.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
			if idempotent {
				spec = segment.BatchSpec{ProducerID: 1, ProducerEpoch: 0}
			}
			value := make([]byte, 100)
			b.SetBytes(int64(len(segment.EncodeBatch(nil, spec, []segment.Record{{Value: value}}))))
			for b.Loop() {
				batch, err := segment.ValidateBatch(segment.EncodeBatch(nil, spec, []segment.Record{{Value: value}}), math.MaxInt32)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.AppendAsLeader(batch, -1, -1); err != nil {
					b.Fatal(err)
				}
				if idempotent {
					spec.BaseSequence++
				}
			}
		})
	}
}

// TestHighWatermarkFromCheckpoint: a replica reopened (as a follower of no
// one, so nothing advances it) starts at the checkpointed HW, and after a
// power loss that took the log's unsynced tail, at most at its LEO.
func TestHighWatermarkFromCheckpoint(t *testing.T) {
	mem := vfs.NewMemFS()
	if err := errors.Join(mem.MkdirAll("/data", 0o755), mem.SyncDir("/")); err != nil {
		t.Fatal(err)
	}
	h := newHarnessOn(t, "/data", mem, nil)
	for i := range 3 {
		h.mustAppend(plain(2), int64(2*i), false)
	}
	if err := h.p.Log().Flush(); err != nil {
		t.Fatal(err)
	}
	checkpoint := func(hw int64) {
		t.Helper()
		if err := h.dd.CheckpointHighWatermarks([]segment.PartitionOffset{{Topic: testTopic, Partition: 0, Offset: hw}}, true); err != nil {
			t.Fatal(err)
		}
	}
	h.opts.LeaderEpoch = -1
	checkpoint(4)
	h.restart(true)
	if hw := h.p.HighWatermark(); hw != 4 {
		t.Fatalf("HW %d after a restart, want the checkpointed 4", hw)
	}
	h.opts.LeaderEpoch = 6
	h.restart(true)
	h.mustAppend(plain(4), 6, false) // LEO 10, not synced
	if hw := h.p.HighWatermark(); hw != 10 {
		t.Fatalf("leader HW %d, want 10", hw)
	}
	checkpoint(10)
	h.opts.LeaderEpoch = -1
	h.powerLoss()
	if leo, hw := h.p.Log().LogEndOffset(), h.p.HighWatermark(); leo != 6 || hw != 6 {
		t.Fatalf("after power loss LEO %d, HW %d; want 6 and the checkpointed 10 bounded by it", leo, hw)
	}
}

// TestDueSnapshotNotAwaitedByAppend: the append that crosses a segment's
// worth of bytes returns while its producer-state snapshot's sync is still
// held (a disk flush); the snapshot is there once the sync goes on.
func TestDueSnapshotNotAwaitedByAppend(t *testing.T) {
	release := make(chan struct{})
	fs := vfs.Inject(vfs.OS, func(op vfs.Op, path string) error {
		if op == vfs.OpSync && strings.HasSuffix(path, snapshotTempSuffix) {
			<-release
		}
		return nil
	})
	cfg := segment.DefaultConfig()
	cfg.SegmentBytes = 3 * idem(3, 0, 0, 1).Header().Size()
	dd, err := segment.OpenDataDir(t.TempDir(), func(string) segment.Config { return cfg }, segment.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	log, err := dd.CreateLog(testTopic, 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Open(log, Options{Topic: testTopic, NodeID: 1, LeaderEpoch: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	appended := make(chan error, 1)
	go func() {
		for i := range int32(5) {
			if _, err := p.AppendAsLeader(idem(3, 0, i, 1), -1, -1); err != nil {
				appended <- err
				return
			}
		}
		appended <- nil
	}()
	select {
	case err := <-appended:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		close(release)
		t.Fatal("the appends waited for the snapshot's sync")
	}
	close(release)
	p.snapshotting.Wait()
	if got, err := snapshotDirOf(log).list(); err != nil || !slices.Equal(got, []int64{3}) {
		t.Fatalf("snapshots %v (%v), want [3]", got, err)
	}
}

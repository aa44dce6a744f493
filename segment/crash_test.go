package segment

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/riffle/riffle/segment/vfs"
)

// The crash workload: batch seq holds 1+seq%5 records whose values name seq
// and the record, padded to a length that varies with seq, so any batch can
// be rebuilt from its number and compared byte for byte.
const (
	crashTopic = "crash"
	crashEpoch = 3
)

// workloadTimestamp is workloadBatch(0)'s base timestamp; batch seq's
// records follow from workloadTimestamp+seq, one apart.
const workloadTimestamp = 1_700_000_000_000

// soak is n, or 100 times n with RIFFLE_LONG=1: the randomized crash tests
// run a short sample in every test run and a long soak on request.
func soak(n uint64) uint64 {
	if os.Getenv("RIFFLE_LONG") == "1" {
		return 100 * n
	}
	return n
}

// thinForRace: under the race detector without RIFFLE_LONG=1 the
// exhaustive model and crash tests run a part of their cases: they take
// minutes there, and what the race detector checks (concurrent use) the
// concurrent tests exercise whole.
func thinForRace() bool { return raceDetector && os.Getenv("RIFFLE_LONG") != "1" }

// underRace is n, or n/div (at least 1) when thinForRace.
func underRace(n, div int) int {
	if thinForRace() {
		return max(1, n/div)
	}
	return n
}

func workloadBatch(seq int) []byte {
	n := 1 + seq%5
	recs := make([]Record, n)
	pad := strings.Repeat(string(rune('a'+seq%26)), seq*37%300)
	for i := range recs {
		recs[i] = Record{Key: []byte(strconv.Itoa(seq)), Value: fmt.Appendf(nil, "seq=%08d rec=%d %s", seq, i, pad), TimestampDelta: int64(i)}
	}
	return EncodeBatch(nil, BatchSpec{BaseTimestamp: workloadTimestamp + int64(seq), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
}

// workloadOffset is the base offset of batch seq.
func workloadOffset(seq int) int64 {
	var off int64
	for i := range seq {
		off += int64(1 + i%5)
	}
	return off
}

// wantStored is batch seq as the log stores it: offsets and epoch assigned.
func wantStored(seq int) []byte {
	b := workloadBatch(seq)
	SetBaseOffset(b, workloadOffset(seq))
	SetPartitionLeaderEpoch(b, crashEpoch)
	return b
}

// quietLogger keeps recovery reports out of test output.
var quietLogger = slog.New(slog.DiscardHandler)

func crashConfig(syncEvery bool) Config {
	c := DefaultConfig()
	c.SegmentBytes = 64 << 10 // several rolls per test
	c.IndexBytesMax = 16 << 10
	c.IndexIntervalBytes = 512
	c.SyncEveryAppend = syncEvery
	return c
}

// readAllBatches reads the log from its start to LEO through Read and
// returns every batch; each must pass ValidateBatch and follow the last.
func readAllBatches(t testing.TB, l *Log) [][]byte {
	t.Helper()
	var out [][]byte
	next, leo := l.LogStartOffset(), l.LogEndOffset()
	for next < leo {
		r, err := l.Read(next, 1<<20, leo, true)
		if err != nil {
			t.Fatalf("read offset %d (LEO %d): %v", next, leo, err)
		}
		if r.Len == 0 {
			t.Fatalf("empty region at offset %d below LEO %d", next, leo)
		}
		buf := make([]byte, r.Len)
		_, err = r.File.ReadAt(buf, r.Pos)
		r.Release()
		if err != nil {
			t.Fatalf("region at offset %d: %d bytes: %v", next, r.Len, err)
		}
		for len(buf) > 0 {
			h, err := ParseBatchHeader(buf)
			if err == nil && h.Size() <= int64(len(buf)) {
				_, err = ValidateBatch(buf[:h.Size()], 1<<30)
			}
			if err != nil {
				t.Fatalf("batch after offset %d: %v", next, err)
			}
			if h.BaseOffset < next && len(out) > 0 {
				t.Fatalf("batch base %d does not follow offset %d", h.BaseOffset, next-1)
			}
			out = append(out, buf[:h.Size()])
			next, buf = h.LastOffset()+1, buf[h.Size():]
		}
	}
	return out
}

// checkWorkload checks that l holds exactly the first n workload batches
// for some minN <= n <= maxN, byte for byte, and returns n.
func checkWorkload(t testing.TB, l *Log, minN, maxN int) int {
	t.Helper()
	got := readAllBatches(t, l)
	for i, b := range got {
		if want := wantStored(i); !bytes.Equal(b, want) {
			h, _ := ParseBatchHeader(b)
			t.Fatalf("batch %d (base offset %d, %d bytes) differs from what was appended", i, h.BaseOffset, len(b))
		}
	}
	n := len(got)
	if n < minN || n > maxN {
		t.Fatalf("log holds %d workload batches, want %d..%d", n, minN, maxN)
	}
	if leo := l.LogEndOffset(); leo != workloadOffset(n) {
		t.Fatalf("LEO %d after %d batches, want %d", leo, n, workloadOffset(n))
	}
	return n
}

// appendWorkload appends batches from..to-1 and fails the test on error.
func appendWorkload(t testing.TB, l *Log, from, to int) {
	t.Helper()
	for seq := from; seq < to; seq++ {
		res, err := l.Append(valid(workloadBatch(seq)), crashEpoch)
		if err != nil {
			t.Fatalf("append batch %d: %v", seq, err)
		}
		if res.BaseOffset != workloadOffset(seq) {
			t.Fatalf("batch %d got base offset %d, want %d", seq, res.BaseOffset, workloadOffset(seq))
		}
	}
}

func openCrashLog(t testing.TB, dir string, cfg Config, fsys vfs.FS) (*DataDir, *Log) {
	t.Helper()
	d, err := OpenDataDir(dir, func(string) Config { return cfg }, Options{FS: fsys, Logger: quietLogger})
	if err != nil {
		t.Fatalf("open data dir %s: %v", dir, err)
	}
	l, err := d.CreateLog(crashTopic, 0, cfg)
	if err != nil {
		t.Fatalf("create log: %v", err)
	}
	return d, l
}

// TestCrashChild is the child process of TestCrashKill: it appends the
// workload until killed, printing "ack <seq>" once each Append returns.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("RIFFLE_CRASH_CHILD_DIR")
	if dir == "" {
		t.Skip("runs only as TestCrashKill's child")
	}
	_, l := openCrashLog(t, dir, crashConfig(os.Getenv("RIFFLE_CRASH_CHILD_SYNC") == "1"), nil)
	seq := 0
	if err := l.ScanBatches(0, func(BatchHeader) error { seq++; return nil }); err != nil {
		t.Fatal(err)
	}
	for end := seq + 100_000; seq < end; seq++ {
		if _, err := l.Append(valid(workloadBatch(seq)), crashEpoch); err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Printf("ack %d\n", seq); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCrashKill kills a child appending with SIGKILL at random moments and
// recovers its log. With SyncEveryAppend every acknowledged batch must
// survive. A process kill keeps the page cache, so in page-cache mode the
// acknowledged batches survive too; only power loss (the MemFS tests) may
// drop them. Either way the log is a prefix of what was appended, and holds
// at most the one batch in flight beyond the last acknowledgement.
func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	for _, mode := range []struct {
		name string
		sync bool
	}{{"fsync", true}, {"pagecache", false}} {
		t.Run(mode.name, func(t *testing.T) {
			seed := rand.Uint64()
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 0))
			dir := t.TempDir()
			acked := 0
			for round := range soak(10) {
				acked = killChildAfter(t, dir, mode.sync, acked, 1+rng.IntN(150))
				d, l := openCrashLog(t, dir, crashConfig(mode.sync), nil)
				n := checkWorkload(t, l, acked, acked+1)
				t.Logf("round %d: %d acknowledged, %d recovered, %d segments", round, acked, n, l.SegmentCount())
				if err := d.Close(); err != nil {
					t.Fatal(err)
				}
				acked = n
			}
		})
	}
}

// killChildAfter runs a child on dir, SIGKILLs it once it has acknowledged
// target more batches, and returns how many batches are acknowledged in all.
func killChildAfter(t *testing.T, dir string, syncEvery bool, acked, target int) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "RIFFLE_CRASH_CHILD_DIR="+dir, "RIFFLE_CRASH_CHILD_SYNC="+map[bool]string{true: "1", false: "0"}[syncEvery])
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	start, killed := acked, false
	for sc.Scan() {
		seq, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(seq)
		if err != nil || n != acked {
			t.Fatalf("child acknowledged %q, want batch %d", sc.Text(), acked)
		}
		acked++
		if !killed && acked-start >= target {
			killed = cmd.Process.Signal(syscall.SIGKILL) == nil
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before being killed after %d acknowledgements: %v\n%s", acked-start, err, stderr.Bytes())
	}
	return acked
}

// memDataDir returns a MemFS holding a durable, empty data directory, as an
// operator would have made it.
func memDataDir(t testing.TB) (*vfs.MemFS, string) {
	t.Helper()
	mem := vfs.NewMemFS()
	if err := mem.MkdirAll("/data", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mem.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	return mem, "/data"
}

// After power loss exactly the flushed prefix survives while the active
// segment is the only one; with rolls (which sync the rolled segment) at
// least that prefix, and never a partial or corrupt batch.
func TestCrashMemKeepsFlushedPrefix(t *testing.T) {
	for _, tc := range []struct {
		name         string
		segmentBytes int64
		exact        bool
	}{{"one segment", 1 << 30, true}, {"rolling", 8 << 10, false}} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			cfg := crashConfig(false)
			cfg.SegmentBytes = tc.segmentBytes
			mem, dir := memDataDir(t)
			_, l := openCrashLog(t, dir, cfg, mem)
			seq := 0
			for round := range 8 {
				flushed := seq + rng.IntN(20)
				appendWorkload(t, l, seq, flushed)
				if err := l.Flush(); err != nil {
					t.Fatal(err)
				}
				seq = flushed + rng.IntN(20)
				appendWorkload(t, l, flushed, seq)

				mem = mem.CrashClone()
				_, l = openCrashLog(t, dir, cfg, mem)
				maxN := seq
				if tc.exact {
					maxN = flushed
				}
				seq = checkWorkload(t, l, flushed, maxN)
				t.Logf("round %d: flushed %d, recovered %d", round, flushed, seq)
			}
		})
	}
}

// With SyncEveryAppend, power loss at any moment keeps every acknowledged
// batch.
func TestCrashMemSyncEveryAppend(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cfg := crashConfig(true)
	mem, dir := memDataDir(t)
	_, l := openCrashLog(t, dir, cfg, mem)
	seq := 0
	for range 8 {
		next := seq + 1 + rng.IntN(40)
		appendWorkload(t, l, seq, next)
		mem = mem.CrashClone()
		_, l = openCrashLog(t, dir, cfg, mem)
		seq = checkWorkload(t, l, next, next)
	}
}

// faultOnce fails the first operation op on a .log file after it is armed.
type faultOnce struct {
	op    vfs.Op
	err   error
	armed atomic.Bool
	fired atomic.Int32
}

func (f *faultOnce) inject(op vfs.Op, path string) error {
	if op == f.op && strings.HasSuffix(path, ".log") && f.armed.CompareAndSwap(true, false) {
		f.fired.Add(1)
		return f.err
	}
	return nil
}

// An I/O error in Append is returned wrapped, the log keeps serving what it
// acknowledged, a retry lands at the same offsets, and after power loss no
// acknowledged batch is missing.
func TestCrashMemAppendErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   vfs.Op
		err  error
		want error
	}{
		{"write ENOSPC", vfs.OpWriteAt, syscall.ENOSPC, syscall.ENOSPC},
		{"torn write ENOSPC", vfs.OpWriteAt, &vfs.PartialWrite{N: 70, Err: syscall.ENOSPC}, syscall.ENOSPC},
		{"write EIO", vfs.OpWriteAt, syscall.EIO, syscall.EIO},
		{"sync EIO", vfs.OpSync, syscall.EIO, syscall.EIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := crashConfig(true)
			cfg.SegmentBytes = 8 << 10
			mem, dir := memDataDir(t)
			fault := &faultOnce{op: tc.op, err: tc.err}
			_, l := openCrashLog(t, dir, cfg, vfs.Inject(mem, fault.inject))
			seq, fenced := 0, false
			for round := range 6 {
				next := seq + 3 + round*5 // crosses rolls
				appendWorkload(t, l, seq, next)
				seq = next
				fault.armed.Store(true)
				_, err := l.Append(valid(workloadBatch(seq)), crashEpoch)
				if fault.fired.Load() == 0 {
					t.Fatal("the fault was never injected")
				}
				if !errors.Is(err, tc.want) {
					t.Fatalf("append under %s: err %v, want %v", tc.name, err, tc.want)
				}
				// A failed fdatasync leaves the batch in the page cache,
				// where the log may keep serving it (it need not be durable:
				// it was never acknowledged); the log then must refuse more.
				checkWorkload(t, l, seq, seq+1)
				// The producer retries; a log that fenced itself after the
				// error may refuse, but must not take the batch twice.
				if _, err := l.Append(valid(workloadBatch(seq)), crashEpoch); err != nil {
					t.Logf("retry after %s refused: %v", tc.name, err)
					fenced = true
					break
				}
				seq++
				checkWorkload(t, l, seq, seq)
				fault.fired.Store(0)
			}
			_, l = openCrashLog(t, dir, cfg, mem.CrashClone())
			n := checkWorkload(t, l, seq, seq+1)
			if !fenced {
				appendWorkload(t, l, n, n+3)
			}
		})
	}
}

// storedBatch is workload batch seq as stored at base offset base.
func storedBatch(seq int, base int64) []byte {
	b := workloadBatch(seq)
	SetBaseOffset(b, base)
	SetPartitionLeaderEpoch(b, crashEpoch)
	return b
}

// historyModel is what a log should hold: its batches now, every earlier
// content since the last reopen (a crash may expose a truncation that was
// never made durable), and how many leading batches are durable for sure.
type historyModel struct {
	seqs     []int
	versions [][]int // seqs of each content the log has had
	nextSeq  int
	// durable is how many leading batches are flushed and not truncated
	// since. Written through setDurable: a log's roll syncs on a goroutine
	// of its own, where sync points read it.
	durable   int
	durableMu sync.Mutex
}

func (m *historyModel) setDurable(n int) {
	m.durableMu.Lock()
	defer m.durableMu.Unlock()
	m.durable = n
}

// baseOf is the base offset of the batch at index i of seqs.
func baseOf(seqs []int, i int) int64 {
	var base int64
	for _, s := range seqs[:i] {
		base += int64(1 + s%5)
	}
	return base
}

func (m *historyModel) leo() int64 { return baseOf(m.seqs, len(m.seqs)) }

func (m *historyModel) record() { m.versions = append(m.versions, slices.Clone(m.seqs)) }

// check fails unless the recovered batches are a prefix of some content
// the log had, holding at least the durable batches, and makes the
// recovered log the model's content.
func (m *historyModel) check(t *testing.T, got [][]byte) {
	t.Helper()
	m.reset(m.match(t, got, m.durable))
}

// match returns the seqs of got, failing unless they are a prefix of some
// content the log had, at least durable long.
func (m *historyModel) match(t *testing.T, got [][]byte, durable int) []int {
	t.Helper()
	if len(got) < durable {
		t.Fatalf("recovered %d batches, %d were flushed", len(got), durable)
	}
	for _, v := range m.versions {
		if len(v) >= len(got) && isPrefix(got, v) {
			return v[:len(got)]
		}
	}
	bases := make([]int64, len(got))
	for i, b := range got {
		h, _ := ParseBatchHeader(b)
		bases[i] = h.BaseOffset
	}
	t.Fatalf("recovered batches at offsets %v are no prefix of any content the log had (%d flushed)", bases, durable)
	return nil
}

// isPrefix reports whether batches are the first stored batches of seqs.
func isPrefix(batches [][]byte, seqs []int) bool {
	for i, b := range batches {
		if !bytes.Equal(b, storedBatch(seqs[i], baseOf(seqs, i))) {
			return false
		}
	}
	return true
}

// reset makes the recovered seqs the model's only, durable, content.
func (m *historyModel) reset(seqs []int) {
	m.seqs, m.versions = slices.Clone(seqs), nil
	m.setDurable(len(seqs))
	m.record()
}

// Random appends, flushes, rolls, truncations and power losses: after each
// loss the log is a prefix of a content it had, with every batch flushed
// and not truncated since.
func TestCrashMemRandomHistory(t *testing.T) {
	for seed := range soak(25) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runRandomHistory(t, seed, nil) })
	}
}

// The same with ENOSPC, EIO and torn writes injected at random into writes
// and syncs: a failed operation leaves the live log a prefix of what it held
// plus the batch attempted, and power loss afterwards loses nothing flushed.
func TestCrashMemRandomDataFaults(t *testing.T) {
	for seed := range soak(40) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			runRandomHistory(t, seed, &randomFaults{rng: rand.New(rand.NewPCG(seed, 11)), ops: []vfs.Op{vfs.OpWriteAt, vfs.OpSync, vfs.OpSyncDir}})
		})
	}
}

// The same with faults in every operation that changes files: creating,
// renaming, truncating and mapping too.
func TestCrashMemRandomFaults(t *testing.T) {
	for seed := range soak(40) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			runRandomHistory(t, seed, &randomFaults{rng: rand.New(rand.NewPCG(seed, 11)), ops: []vfs.Op{
				vfs.OpWriteAt, vfs.OpSync, vfs.OpSyncDir, vfs.OpOpenFile, vfs.OpRename, vfs.OpRemove,
				vfs.OpTruncate, vfs.OpAllocate, vfs.OpMap, vfs.OpMkdirAll,
			}})
		})
	}
}

func runRandomHistory(t *testing.T, seed uint64, faults *randomFaults) {
	rng := rand.New(rand.NewPCG(seed, 7))
	cfg := crashConfig(false)
	cfg.SegmentBytes = 4<<10 + int64(rng.IntN(8<<10))
	mem, dir := memDataDir(t)
	open := func() *Log {
		fsys := vfs.FS(mem)
		if faults != nil {
			fsys = vfs.Inject(mem, faults.inject)
			faults.arm(false)
			defer faults.arm(true)
		}
		_, l := openCrashLog(t, dir, cfg, fsys)
		return l
	}
	l := open()
	m := &historyModel{}
	m.record()
	for range 80 {
		if rng.IntN(100) < 20 {
			mem = mem.CrashClone()
			l = open()
			m.check(t, readAllBatches(t, l))
			continue
		}
		m.step(t, rng, l, faults != nil)
	}
}

// step runs one random append, flush or truncation on l and the model;
// faulty allows it to fail.
func (m *historyModel) step(t *testing.T, rng *rand.Rand, l *Log, faulty bool) {
	t.Helper()
	switch p := rng.IntN(100); {
	case p < 70 || len(m.seqs) == 0:
		seq := m.nextSeq
		m.nextSeq++
		res, err := l.Append(valid(workloadBatch(seq)), crashEpoch)
		switch {
		case err != nil && faulty:
			m.follow(t, l, len(m.seqs), seq)
		case err != nil || res.BaseOffset != m.leo():
			t.Fatalf("append: %+v %v, want base %d", res, err, m.leo())
		default:
			m.seqs = append(m.seqs, seq)
			m.record()
		}
	case p < 88:
		err := l.Flush()
		switch {
		case err == nil:
			m.setDurable(len(m.seqs))
		case !faulty:
			t.Fatal(err)
		}
	default:
		keep := max(0, len(m.seqs)-1-rng.IntN(8))
		// Power loss during the call may find the truncation durable.
		m.setDurable(min(m.durable, keep))
		err := l.TruncateTo(baseOf(m.seqs, keep))
		switch {
		case err != nil && faulty:
			m.follow(t, l, keep, -1)
		case err != nil:
			t.Fatal(err)
		default:
			m.seqs = m.seqs[:keep]
			m.record()
		}
	}
}

// Power loss at every moment where what is durable changes, that is just
// before each Sync and SyncDir, of a random history ending in checkpoints
// and a clean Close: each such state opens and holds a prefix of a content
// the log had, with every batch flushed by then. One segment here; rolling
// in TestCrashMemEverySyncPointRolling.
func TestCrashMemEverySyncPoint(t *testing.T) {
	for seed := range soak(25) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runEverySyncPoint(t, seed, 1<<30) })
	}
}

func TestCrashMemEverySyncPointRolling(t *testing.T) {
	for seed := range soak(25) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runEverySyncPoint(t, seed, 4<<10+int64(seed%8)<<10) })
	}
}

func runEverySyncPoint(t *testing.T, seed uint64, segmentBytes int64) {
	rng := rand.New(rand.NewPCG(seed, 5))
	cfg := crashConfig(false)
	cfg.SegmentBytes = segmentBytes
	mem, dir := memDataDir(t)
	m := &historyModel{}
	m.record()
	type point struct {
		fs      *vfs.MemFS
		durable int
	}
	var points []point
	// Sync points come from this goroutine and from the log's background
	// roll syncs; the clone is taken under the model's lock, so it shows no
	// file change made after the durable count it is recorded with.
	snapshot := func(op vfs.Op, _ string) error {
		if op == vfs.OpSync || op == vfs.OpSyncDir {
			m.durableMu.Lock()
			points = append(points, point{mem.CrashClone(), m.durable})
			m.durableMu.Unlock()
		}
		return nil
	}
	d, l := openCrashLog(t, dir, cfg, vfs.Inject(mem, snapshot))
	for range 60 {
		if rng.IntN(10) == 0 {
			if err := d.CheckpointRecoveryPoints(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		m.step(t, rng, l, false)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	points = append(points, point{mem.CrashClone(), len(m.seqs)})
	for i, p := range points {
		_, l := openCrashLog(t, dir, cfg, p.fs)
		t.Logf("power loss at sync point %d of %d", i+1, len(points))
		m.match(t, readAllBatches(t, l), p.durable)
	}
}

// follow brings the model in line with the live log after a failed
// operation: the log must hold at least minN of the model's batches, and
// nothing but a prefix of them followed by the batch attempted (-1: none).
func (m *historyModel) follow(t *testing.T, l *Log, minN, attempted int) {
	t.Helper()
	want := slices.Clone(m.seqs)
	if attempted >= 0 {
		want = append(want, attempted)
	}
	got := readAllBatches(t, l)
	if len(got) < minN || len(got) > len(want) || !isPrefix(got, want) {
		t.Fatalf("after a failed operation the log holds %d batches, not a prefix of the %d appended with at least %d", len(got), len(want), minN)
	}
	if !slices.Equal(want[:len(got)], m.seqs) {
		m.seqs = want[:len(got)]
		m.setDurable(min(m.durable, len(got)))
		m.record()
	}
}

// randomFaults fails about 3% of the operations ops, once armed, with
// ENOSPC, EIO or a torn write.
type randomFaults struct {
	mu    sync.Mutex
	rng   *rand.Rand
	ops   []vfs.Op
	armed bool
}

func (f *randomFaults) arm(on bool) {
	f.mu.Lock()
	f.armed = on
	f.mu.Unlock()
}

func (f *randomFaults) inject(op vfs.Op, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.armed || !slices.Contains(f.ops, op) || f.rng.IntN(100) >= 3 {
		return nil
	}
	switch f.rng.IntN(3) {
	case 0:
		if op == vfs.OpWriteAt {
			return &vfs.PartialWrite{N: 1 + f.rng.IntN(100), Err: syscall.ENOSPC}
		}
		return syscall.ENOSPC
	case 1:
		return syscall.EIO
	}
	return syscall.ENOSPC
}

// Power loss at every sync point while a log is deleted and created again
// next to another: the data dir always opens, each log present holds a
// prefix of what was appended to it, and the final state is exact.
func TestCrashMemDeleteAndRecreate(t *testing.T) {
	mem, dir := memDataDir(t)
	cfg := crashConfig(false)
	var points []*vfs.MemFS
	snapshot := func(op vfs.Op, _ string) error {
		if op == vfs.OpSync || op == vfs.OpSyncDir {
			points = append(points, mem.CrashClone())
		}
		return nil
	}
	d, l := openCrashLog(t, dir, cfg, vfs.Inject(mem, snapshot))
	appendWorkload(t, l, 0, 5)
	other, err := d.CreateLog("other", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	appendWorkload(t, other, 0, 3)
	for _, l := range []*Log{l, other} {
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.DeleteLog(crashTopic, 0); err != nil {
		t.Fatal(err)
	}
	if l, err = d.CreateLog(crashTopic, 0, cfg); err != nil {
		t.Fatal(err)
	}
	appendWorkload(t, l, 0, 2)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	points = append(points, mem.CrashClone())
	for i, p := range points {
		d, err := OpenDataDir(dir, func(string) Config { return cfg }, Options{FS: p, Logger: quietLogger})
		if err != nil {
			t.Fatalf("power loss at sync point %d of %d: %v", i+1, len(points), err)
		}
		last := i == len(points)-1
		for topic, n := range map[string]int{crashTopic: 2, "other": 3} {
			l := d.Log(topic, 0)
			switch {
			case l == nil && last:
				t.Fatalf("log %s lost after it was flushed", topic)
			case l == nil:
			case last:
				checkWorkload(t, l, n, n)
			default:
				checkWorkload(t, l, 0, 5)
			}
		}
	}
}

// A roll whose sealing fails, or a truncation whose renames fail, fences
// the log: it refuses appends and truncations, still serves every batch it
// holds (a prefix of what was appended), and opens again after power loss.
func TestCrashMemFailedSealOrTruncateFences(t *testing.T) {
	for _, tc := range []struct {
		name   string
		op     vfs.Op
		target func(l *Log) string // the file whose op fails
		act    func(l *Log) error  // what fails
	}{
		{"seal: map of the old index", vfs.OpMap,
			func(l *Log) string { return segmentPath(l.dir, l.active().base, indexSuffix) },
			func(l *Log) error {
				for seq, n := 40, l.SegmentCount(); l.SegmentCount() == n; seq++ { // up to the next roll
					if _, err := l.Append(valid(workloadBatch(seq)), crashEpoch); err != nil {
						return err
					}
				}
				return nil
			}},
		{"truncate: rename of a later segment", vfs.OpRename,
			// Segments go newest first: all but the first two are deleted.
			func(l *Log) string { return segmentPath(l.dir, l.segments[1].base, logSuffix) },
			func(l *Log) error { return l.TruncateTo(workloadOffset(3)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := crashConfig(false)
			cfg.SegmentBytes = 8 << 10
			mem, dir := memDataDir(t)
			var target atomic.Value
			target.Store("")
			inject := func(op vfs.Op, path string) error {
				if op == tc.op && path == target.Load() {
					return syscall.EIO
				}
				return nil
			}
			_, l := openCrashLog(t, dir, cfg, vfs.Inject(mem, inject))
			appendWorkload(t, l, 0, 40)
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			if n := l.SegmentCount(); n < 3 {
				t.Fatalf("%d segments, want 3 or more", n)
			}
			target.Store(tc.target(l))
			if err := tc.act(l); !errors.Is(err, syscall.EIO) {
				t.Fatalf("err %v, want EIO", err)
			}
			n := checkWorkload(t, l, 4, 100)
			if _, err := l.Append(valid(workloadBatch(n)), crashEpoch); err == nil {
				t.Fatal("append accepted after the failure")
			}
			if err := l.TruncateTo(0); err == nil {
				t.Fatal("truncation accepted after the failure")
			}
			checkWorkload(t, l, n, n)
			// What was flushed survives; a truncation never made durable
			// may be undone.
			_, l = openCrashLog(t, dir, cfg, mem.CrashClone())
			checkWorkload(t, l, min(n, 40), max(n, 40))
		})
	}
}

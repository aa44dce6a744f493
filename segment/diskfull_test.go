package segment

import (
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/riffle/riffle/segment/vfs"
)

// fullDisk fails every write to a file whose path contains match with
// ENOSPC while it is on: a disk with room for some writes and not others.
type fullDisk struct {
	match string
	on    atomic.Bool
}

func (f *fullDisk) inject(op vfs.Op, path string) error {
	if f.on.Load() && op == vfs.OpWriteAt && strings.Contains(path, f.match) {
		return syscall.ENOSPC
	}
	return nil
}

// openFullDiskLog opens the crash log on mem with full injected, after
// batches [0, n) at crashEpoch.
func openFullDiskLog(t *testing.T, n int, full *fullDisk) (*vfs.MemFS, string, Config, *DataDir, *Log) {
	t.Helper()
	cfg := crashConfig(false)
	mem, dir := memDataDir(t)
	d, l := openCrashLog(t, dir, cfg, vfs.Inject(mem, full.inject))
	appendWorkload(t, l, 0, n)
	return mem, dir, cfg, d, l
}

// A new leader epoch's checkpoint that does not fit fails the append that
// needed it and fences nothing: once space returns the same append lands
// at the same offset, and a crash keeps the batch with its epoch.
func TestDiskFullAtNewEpochCheckpoint(t *testing.T) {
	full := &fullDisk{match: epochCheckpointName}
	mem, dir, cfg, _, l := openFullDiskLog(t, 5, full)
	leo := l.LogEndOffset()

	full.on.Store(true)
	if _, err := l.Append(valid(workloadBatch(5)), crashEpoch+1); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append at a new epoch on a full disk: %v, want ENOSPC", err)
	}
	if err := l.Err(); err != nil {
		t.Fatalf("a full disk fenced the log: %v", err)
	}
	if got := l.LogEndOffset(); got != leo {
		t.Fatalf("LEO %d after the failed append, want %d", got, leo)
	}

	full.on.Store(false)
	res, err := l.Append(valid(workloadBatch(5)), crashEpoch+1)
	if err != nil {
		t.Fatalf("append once space returned: %v", err)
	}
	if res.BaseOffset != leo {
		t.Fatalf("append once space returned at %d, want %d", res.BaseOffset, leo)
	}
	leo = l.LogEndOffset()
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	_, l = openCrashLog(t, dir, cfg, mem.CrashClone())
	if got := l.LogEndOffset(); got != leo {
		t.Fatalf("LEO %d after a crash, want %d", got, leo)
	}
	if got := l.LatestEpoch(); got != crashEpoch+1 {
		t.Fatalf("latest epoch %d after a crash, want %d", got, crashEpoch+1)
	}
}

// A truncation whose leader-epoch checkpoint does not fit succeeds and
// fences nothing: the checkpoint is rewritten before the next append, and
// a crash before that finds the stale entries past the LEO and drops them.
func TestDiskFullAtTruncation(t *testing.T) {
	full := &fullDisk{match: epochCheckpointName}
	mem, dir, cfg, _, l := openFullDiskLog(t, 6, full)
	cut := l.LogEndOffset()
	for seq := 6; seq < 8; seq++ {
		if _, err := l.Append(valid(workloadBatch(seq)), crashEpoch+1); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}

	full.on.Store(true)
	if err := l.TruncateTo(cut); err != nil {
		t.Fatalf("truncate on a full disk: %v", err)
	}
	if err := l.Err(); err != nil {
		t.Fatalf("a full disk fenced the log: %v", err)
	}
	if got := l.LatestEpoch(); got != crashEpoch {
		t.Fatalf("latest epoch %d after the truncation, want %d", got, crashEpoch)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	_, crashed := openCrashLog(t, dir, cfg, mem.CrashClone())
	checkWorkload(t, crashed, 6, 6)
	if got := crashed.LatestEpoch(); got != crashEpoch {
		t.Fatalf("latest epoch %d after a crash on the full disk, want %d", got, crashEpoch)
	}

	full.on.Store(false)
	appendWorkload(t, l, 6, 9)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	_, l = openCrashLog(t, dir, cfg, mem.CrashClone())
	checkWorkload(t, l, 9, 9)
	if got := l.LatestEpoch(); got != crashEpoch {
		t.Fatalf("latest epoch %d after a crash, want %d", got, crashEpoch)
	}
}

// Closing a data dir whose checkpoints do not fit completes: the close is
// clean, and the next open serves everything without a recovery.
func TestDiskFullAtClose(t *testing.T) {
	full := &fullDisk{match: "offset-checkpoint"}
	mem, dir, cfg, d, _ := openFullDiskLog(t, 10, full)
	full.on.Store(true)
	if err := d.Close(); err != nil {
		t.Fatalf("close on a full disk: %v", err)
	}
	if _, err := mem.Stat(filepath.Join(dir, cleanShutdownFile)); err != nil {
		t.Fatalf("no clean-shutdown marker after a close on a full disk: %v", err)
	}
	_, l := openCrashLog(t, dir, cfg, vfs.Inject(mem.CrashClone(), full.inject))
	checkWorkload(t, l, 10, 10)
}

// A new leader whose leader-epoch checkpoint does not fit still takes the
// epoch (a full disk must not keep a replica from leading, to serve
// reads); the checkpoint is written before the epoch's first batch.
func TestDiskFullAtAssignEpochStart(t *testing.T) {
	full := &fullDisk{match: epochCheckpointName}
	mem, dir, cfg, _, l := openFullDiskLog(t, 5, full)
	leo := l.LogEndOffset()

	full.on.Store(true)
	if err := l.AssignEpochStart(crashEpoch+1, leo); err != nil {
		t.Fatalf("AssignEpochStart on a full disk: %v", err)
	}
	if got := l.LatestEpoch(); got != crashEpoch+1 {
		t.Fatalf("latest epoch %d, want %d", got, crashEpoch+1)
	}
	if _, err := l.Append(valid(workloadBatch(5)), crashEpoch+1); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append while the checkpoint is stale on a full disk: %v, want ENOSPC", err)
	}

	full.on.Store(false)
	if _, err := l.Append(valid(workloadBatch(5)), crashEpoch+1); err != nil {
		t.Fatalf("append once space returned: %v", err)
	}
	leo = l.LogEndOffset()
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	_, l = openCrashLog(t, dir, cfg, mem.CrashClone())
	if got := l.LatestEpoch(); got != crashEpoch+1 {
		t.Fatalf("latest epoch %d after a crash, want %d", got, crashEpoch+1)
	}
	if got := l.LogEndOffset(); got != leo {
		t.Fatalf("LEO %d after a crash, want %d", got, leo)
	}
}

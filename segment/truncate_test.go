package segment

import (
	"path/filepath"
	"strconv"
	"testing"
)

// TruncateFullyAndStartAt restarts the log beyond its LEO, or at its own
// first base offset, durably: after power loss, with nothing flushed since,
// the log is empty at the new offset and takes appends there.
func TestTruncateFullyAndStartAt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(l *Log) int64
	}{
		{"beyond LEO", func(l *Log) int64 { return l.LogEndOffset() + 1000 }},
		{"within the log", func(*Log) int64 { return workloadOffset(7) }},
		{"at the first segment's base", func(*Log) int64 { return 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := crashConfig(false)
			cfg.SegmentBytes = 8 << 10
			mem, dir := memDataDir(t)
			_, l := openCrashLog(t, dir, cfg, mem)
			appendWorkload(t, l, 0, 40)
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			if l.SegmentCount() < 2 {
				t.Fatalf("%d segments, want several", l.SegmentCount())
			}
			start := tc.start(l)
			if err := l.TruncateFullyAndStartAt(start); err != nil {
				t.Fatal(err)
			}
			check := func(l *Log, wantLEO int64) {
				t.Helper()
				if l.LogStartOffset() != start || l.LogEndOffset() != wantLEO || l.SegmentCount() != 1 || l.LatestEpoch() != -1 {
					t.Fatalf("log start %d, LEO %d, %d segments, latest epoch %d; want start %d, LEO %d, 1 segment, no epoch",
						l.LogStartOffset(), l.LogEndOffset(), l.SegmentCount(), l.LatestEpoch(), start, wantLEO)
				}
			}
			check(l, start)
			_, crashed := openCrashLog(t, dir, cfg, mem.CrashClone())
			check(crashed, start)
			res, err := crashed.Append(valid(workloadBatch(0)), crashEpoch)
			if err != nil || res.BaseOffset != start {
				t.Fatalf("append after restart at %d: %v, want base offset %d", res.BaseOffset, err, start)
			}
			if err := crashed.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := readAllBatches(t, crashed); len(got) != 1 {
				t.Fatalf("%d batches after restart and one append", len(got))
			}
		})
	}
}

// appendEpochs appends workload batches 0..len(epochs)-1, batch i at leader
// epoch epochs[i], and flushes them.
func appendEpochs(t *testing.T, l *Log, epochs []int32) {
	t.Helper()
	for seq, e := range epochs {
		if _, err := l.Append(valid(workloadBatch(seq)), e); err != nil {
			t.Fatalf("append batch %d: %v", seq, err)
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
}

// checkEpochsCoverBatches checks that the leader epoch cache describes the
// batches the log holds: each epoch found in them ends where the next one
// starts (the last at LEO), and the latest is the last batch's.
func checkEpochsCoverBatches(t *testing.T, l *Log) {
	t.Helper()
	var starts []epochEntry
	for _, b := range readAllBatches(t, l) {
		h, err := ParseBatchHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(starts); n == 0 || starts[n-1].Epoch != h.PartitionLeaderEpoch {
			starts = append(starts, epochEntry{h.PartitionLeaderEpoch, h.BaseOffset})
		}
	}
	want := int32(-1)
	if n := len(starts); n > 0 {
		want = starts[n-1].Epoch
	}
	if got := l.LatestEpoch(); got != want {
		t.Fatalf("latest epoch %d, batches end at epoch %d (LEO %d)", got, want, l.LogEndOffset())
	}
	for i, s := range starts {
		end := l.LogEndOffset()
		if i+1 < len(starts) {
			end = starts[i+1].StartOffset
		}
		if e, o := l.EndOffsetForEpoch(s.Epoch); e != s.Epoch || o != end {
			t.Fatalf("EndOffsetForEpoch(%d) = (%d, %d), batches say (%d, %d)", s.Epoch, e, o, s.Epoch, end)
		}
	}
}

// A truncation is durable when TruncateTo returns: after power loss with
// nothing synced since, the log holds what it held after the truncation,
// and its epoch cache still covers every batch. The cut used to become
// durable only at the next sync while the leader-epoch checkpoint was
// rewritten at once, so the removed batches came back without their
// epochs (after TruncateTo(0): the old LEO, latest epoch -1).
func TestTruncateToSurvivesPowerLoss(t *testing.T) {
	epochs := []int32{1, 1, 1, 2, 2, 2}
	for _, seq := range []int{0, 2, 3, 4} {
		t.Run(strconv.Itoa(seq), func(t *testing.T) {
			mem, dir := memDataDir(t)
			_, l := openCrashLog(t, dir, crashConfig(false), mem)
			appendEpochs(t, l, epochs)
			to := workloadOffset(seq)
			if err := l.TruncateTo(to); err != nil {
				t.Fatal(err)
			}
			_, crashed := openCrashLog(t, dir, crashConfig(false), mem.CrashClone())
			if got := crashed.LogEndOffset(); got != to {
				t.Fatalf("LEO %d after power loss, truncated to %d", got, to)
			}
			checkEpochsCoverBatches(t, crashed)
		})
	}
}

// Recovery re-reads the epochs of the batches past the recovery point: a
// leader-epoch checkpoint that lacks the newest epochs of the log (power
// loss after a checkpoint write that dropped them) is completed from the
// batch headers, as Kafka's segment recovery does.
func TestRecoveryAssignsEpochsOfRecoveredBatches(t *testing.T) {
	mem, dir := memDataDir(t)
	_, l := openCrashLog(t, dir, crashConfig(false), mem)
	appendEpochs(t, l, []int32{1, 1, 3, 3, 4})
	if err := writeCheckpoint(mem, filepath.Join(l.Dir(), epochCheckpointName), []string{"1 0"}, true); err != nil {
		t.Fatal(err)
	}
	_, crashed := openCrashLog(t, dir, crashConfig(false), mem.CrashClone())
	checkEpochsCoverBatches(t, crashed)
	if got := crashed.LatestEpoch(); got != 4 {
		t.Fatalf("latest epoch %d, want 4", got)
	}
}

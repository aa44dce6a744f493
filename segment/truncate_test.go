package segment

import (
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
			res, err := crashed.Append(workloadBatch(0), crashEpoch)
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

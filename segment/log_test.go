package segment

import (
	"errors"
	"math"
	"sync"
	"testing"
)

func TestAppendAcrossRollsAndReopen(t *testing.T) {
	e := newEnv(t, smallConfig())
	d, l := e.openLog()
	res := appendN(t, l, 60, 3, 1000)
	for i, r := range res {
		if r.BaseOffset != int64(3*i) || r.LastOffset != int64(3*i+2) || r.LogAppendTime != -1 {
			t.Fatalf("append %d: %+v", i, r)
		}
	}
	if l.LogEndOffset() != 180 {
		t.Fatalf("LEO %d, want 180", l.LogEndOffset())
	}
	if l.SegmentCount() < 5 {
		t.Fatalf("%d segments, want rolls by segment.bytes", l.SegmentCount())
	}
	checkContiguous(t, readAll(t, l, 0), 0, 180)
	segments := l.SegmentCount()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d = e.open()
	defer d.Close()
	l = d.Log("my.topic-x", 3)
	if l == nil {
		t.Fatal("log not reopened")
	}
	if l.LogEndOffset() != 180 || l.SegmentCount() != segments || l.RecoveryPoint() != 180 {
		t.Fatalf("reopened: LEO %d segments %d recovery point %d", l.LogEndOffset(), l.SegmentCount(), l.RecoveryPoint())
	}
	checkContiguous(t, readAll(t, l, 0), 0, 180)
	mustAppend(t, l, testBatch(5000, 2))
	checkContiguous(t, readAll(t, l, 0), 0, 182)
}

// TestConcurrentUse runs appends, reads, scans and ticks at once (run it
// with -race).
func TestConcurrentUse(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionBytes = 4096
	cfg.FlushMessages = 7
	e := newEnv(t, cfg)
	d, l := e.openLog()
	defer d.Close()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			start := l.LogStartOffset()
			r, err := l.Read(start, 512, math.MaxInt64, true)
			if err != nil && !errors.Is(err, ErrOffsetOutOfRange) {
				t.Error(err)
				return
			}
			if err == nil {
				regionBatches(t, r)
				r.Release()
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := l.Tick(); err != nil {
				t.Error(err)
				return
			}
			if err := l.ScanBatches(l.LogStartOffset(), func(BatchHeader) error { return nil }); err != nil && !errors.Is(err, ErrOffsetOutOfRange) {
				t.Error(err)
				return
			}
		}
	}()
	appendN(t, l, 300, 2, 1000)
	close(done)
	wg.Wait()
	checkContiguous(t, readAll(t, l, l.LogStartOffset()), l.LogStartOffset(), 600)
}

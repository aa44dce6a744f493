package segment

import (
	"sync"
	"testing"
	"time"

	"github.com/riffle/riffle/internal/benchtail"
)

// slowAppend is the longest a single append may take in the tail
// benchmarks before they fail: the produce path must never wait for the
// disk in the default durability mode.
const slowAppend = 10 * time.Millisecond

// BenchmarkAppendTail appends 16 KiB batches of 1 KiB records (about what
// one produce request carries at 50,000 records/s) in the default
// durability mode, with the broker's once-a-second Tick running beside the
// appends and segments of 64 MiB, so that the run crosses rolls and
// writeback. It reports the latency distribution of single appends and
// fails, naming each, if any took longer than slowAppend: a roll or a
// flush waiting for the disk on the append path shows here. "paced" runs
// at 50 MB/s (the 50,000 x 1 KiB/s), "max" as fast as it can.
func BenchmarkAppendTail(b *testing.B) {
	batch := benchBatch(1<<10, 16<<10)
	for _, pace := range []struct {
		name     string
		interval time.Duration
	}{{"paced-50MBps", time.Duration(float64(time.Second) * float64(len(batch)) / 50e6)}, {"max", 0}} {
		b.Run(pace.name, func(b *testing.B) {
			cfg := benchConfig(false)
			cfg.SegmentBytes = 64 << 20
			l := benchLog(b, cfg)
			// The epoch's first batch writes and syncs the leader-epoch
			// checkpoint: once per leadership, not per append.
			if _, err := l.Append(valid(batch), 0); err != nil {
				b.Fatal(err)
			}
			stop := tickEverySecond(b, l)
			defer stop()
			took := make([]time.Duration, 0, b.N)
			b.SetBytes(int64(len(batch)))
			b.ResetTimer()
			next := time.Now()
			for range b.N {
				if pace.interval > 0 {
					next = next.Add(pace.interval)
					time.Sleep(time.Until(next))
				}
				start := time.Now()
				if _, err := l.Append(valid(batch), 0); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			b.StopTimer()
			benchtail.Report(b, "append", took, slowAppend)
		})
	}
}

// tickEverySecond runs l.Tick every second, as the broker's tick loop
// does, until the returned stop is called.
func tickEverySecond(b *testing.B, l *Log) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := l.Tick(); err != nil {
					b.Error(err)
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

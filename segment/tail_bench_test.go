package segment

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
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
			reportAppendTail(b, took)
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

// reportAppendTail reports the appends' p99, p99.9 and max, and fails
// the benchmark for each append over slowAppend, at its position.
func reportAppendTail(b *testing.B, took []time.Duration) {
	if len(took) == 0 {
		return
	}
	slow := 0
	for i, d := range took {
		if d > slowAppend {
			slow++
			if slow <= 10 {
				b.Errorf("append %d of %d took %v, over %v", i, len(took), d, slowAppend)
			}
		}
	}
	if slow > 10 {
		b.Errorf("... %d appends over %v in all", slow, slowAppend)
	}
	sorted := slices.Clone(took)
	slices.Sort(sorted)
	at := func(q float64) time.Duration { return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))] }
	b.ReportMetric(float64(at(0.99).Microseconds()), "p99-µs")
	b.ReportMetric(float64(at(0.999).Microseconds()), "p99.9-µs")
	b.ReportMetric(float64(sorted[len(sorted)-1].Microseconds()), "max-µs")
	b.ReportMetric(float64(slow), "slow-appends")
	if testing.Verbose() {
		fmt.Printf("%s: %d appends, p50 %v, p99 %v, p99.9 %v, max %v, %d over %v\n", b.Name(), len(took), at(0.5), at(0.99), at(0.999), sorted[len(sorted)-1], slow, slowAppend)
	}
}

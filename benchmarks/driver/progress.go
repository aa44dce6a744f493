package driver

import (
	"fmt"
	"sync"
	"time"

	"github.com/riffle/riffle/benchmarks/stats"
)

// progress prints the last complete interval once per interval until the
// returned stop function is called.
func (r *run) progress() (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(stats.Interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				i := int(now.Sub(r.rec.Start())/stats.Interval) - 1
				if i >= 0 {
					r.printPoint(r.rec.IntervalPoint(i))
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func (r *run) printPoint(p stats.Point) {
	phase := "run "
	if p.T <= r.s.Warmup.Std().Seconds() {
		phase = "warm"
	}
	fmt.Fprintf(r.cfg.Progress,
		"%s %4.0fs  produce %9.0f rec/s %8.2f MB/s  consume %9.0f rec/s %8.2f MB/s  ack p50/p99 %7.2f/%7.2f ms  e2e p50/p99 %7.2f/%7.2f ms  errors %d\n",
		phase, p.T, p.Produce.RecordsPerSec, p.Produce.MBPerSec, p.Consume.RecordsPerSec, p.Consume.MBPerSec,
		p.Ack.P50, p.Ack.P99, p.E2E.P50, p.E2E.P99,
		r.rec.Errors(stats.Produced)+r.rec.Errors(stats.Consumed))
}

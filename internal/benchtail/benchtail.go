// Package benchtail reports the latency tail of a benchmark's single
// operations and fails the benchmark, naming each, for every operation over
// a limit: regressions in the tail show in a benchmark's output, not as
// timed tests.
package benchtail

import (
	"slices"
	"testing"
	"time"
)

// Report reports the p99, p99.9 and max of took (one duration per
// operation, called what: "append", "request") and the count over limit,
// and fails b for each one over limit, at its position.
func Report(b *testing.B, what string, took []time.Duration, limit time.Duration) {
	if len(took) == 0 {
		return
	}
	slow := 0
	for i, d := range took {
		if d > limit {
			slow++
			if slow <= 10 {
				b.Errorf("%s %d of %d took %v, over %v", what, i, len(took), d, limit)
			}
		}
	}
	if slow > 10 {
		b.Errorf("... %d of %d over %v in all", slow, len(took), limit)
	}
	sorted := slices.Clone(took)
	slices.Sort(sorted)
	at := func(q float64) time.Duration { return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))] }
	b.ReportMetric(float64(at(0.99).Microseconds()), "p99-µs")
	b.ReportMetric(float64(at(0.999).Microseconds()), "p99.9-µs")
	b.ReportMetric(float64(sorted[len(sorted)-1].Microseconds()), "max-µs")
	b.ReportMetric(float64(slow), "over-limit")
	if testing.Verbose() {
		b.Logf("%d %ss: p50 %v, p99 %v, p99.9 %v, max %v, %d over %v", len(took), what, at(0.5), at(0.99), at(0.999), sorted[len(sorted)-1], slow, limit)
	}
}

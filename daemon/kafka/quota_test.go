package kafka

import (
	"testing"
	"time"

	"github.com/riffle/riffle/quorum"
)

// TestQuotaRatesHoldClientToQuota: a client that sends as fast as it may,
// waiting out each throttle time as told, averages the quota over a long
// run; a client under its quota is never throttled.
func TestQuotaRatesHoldClientToQuota(t *testing.T) {
	const quota = 100 << 10 // bytes/s
	for _, c := range []struct {
		num    int
		window time.Duration
	}{{11, time.Second}, {3, time.Second}, {2, 500 * time.Millisecond}} {
		q := newQuotaRates(c.num, c.window)
		bucket := quotaBucket{typ: QuotaProduce, entity: quorum.QuotaEntity{User: quorum.QuotaNamed("u")}}
		start := time.Unix(1000, 0)
		now, sent, throttled := start, 0.0, 0
		const request = 16 << 10
		for now.Sub(start) < 120*time.Second {
			d := q.record(bucket, request, quota, now)
			sent += request
			if d > 0 {
				throttled++
			}
			now = now.Add(time.Millisecond + d) // 16 MiB/s unthrottled
		}
		// The first span's allowance comes on top.
		rate := (sent - quota*q.span().Seconds()) / now.Sub(start).Seconds()
		if rate < 0.8*quota || rate > 1.2*quota || throttled == 0 {
			t.Errorf("%d × %v: %.0f B/s over the run (quota %d), %d throttled", c.num, c.window, rate, quota, throttled)
		}

		under := quotaBucket{typ: QuotaProduce, entity: quorum.QuotaEntity{User: quorum.QuotaNamed("slow")}}
		for i := range 100 {
			if d := q.record(under, quota/4, quota, start.Add(time.Duration(i)*250*time.Millisecond*2)); d != 0 {
				t.Fatalf("%d × %v: a client at half its quota throttled %v at step %d", c.num, c.window, d, i)
			}
		}
	}
}

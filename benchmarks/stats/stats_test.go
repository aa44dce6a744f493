package stats

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestSummaryExcludesWarmup(t *testing.T) {
	start := time.Unix(1000, 0)
	r := NewRecorder(start, 2*time.Second)
	p, c := r.NewShard(), r.NewShard()
	// Warm-up: counted in the series, not in latency or the window.
	p.Record(Produced, start.Add(time.Second), start.Add(time.Second+time.Hour/1e6), 100)
	for i := range 100 {
		sent := start.Add(2*time.Second + time.Duration(i)*10*time.Millisecond)
		p.Record(Produced, sent, sent.Add(time.Millisecond), 1000)
		c.Record(Consumed, sent, sent.Add(5*time.Millisecond), 1000)
	}
	r.Error(Produced, errors.New("boom"))
	r.Error(Produced, errors.New("boom"))

	s := r.Summarize(start.Add(3 * time.Second))
	if s.WindowFrom != 2 || s.WindowTo != 3 {
		t.Fatalf("window %v-%v", s.WindowFrom, s.WindowTo)
	}
	if s.Produce.Records != 100 || s.Produce.MBPerSec != 0.1 || s.Consume.RecordsPerSec != 100 {
		t.Fatalf("throughput %+v %+v", s.Produce, s.Consume)
	}
	if s.Ack.Count != 100 || math.Abs(s.Ack.P50-1) > 0.01 || math.Abs(s.E2E.P99-5) > 0.01 {
		t.Fatalf("latency ack %+v e2e %+v", s.Ack, s.E2E)
	}
	if len(s.Series) != 3 || s.Series[1].Produce.Records != 1 || s.Series[2].Produce.Records != 100 {
		t.Fatalf("series %+v", s.Series)
	}
	if s.Errors.Produce != 2 || len(s.Errors.Samples) != 1 {
		t.Fatalf("errors %+v", s.Errors)
	}
	if r.Total(Produced) != 101 || r.Total(Consumed) != 100 {
		t.Fatalf("totals %d %d", r.Total(Produced), r.Total(Consumed))
	}
}

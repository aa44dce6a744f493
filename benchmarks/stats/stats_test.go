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

func TestStallsMergeOverlappingSlowRecords(t *testing.T) {
	start := time.Unix(1000, 0)
	r := NewRecorder(start, time.Second)
	a, b := r.NewShard(), r.NewShard()
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	// Warm-up: a slow record there is not a stall.
	a.Record(Produced, at(500), at(900), 10)
	// One stall seen by two producers: a's records 2000-2050 and b's
	// 2040-2120 overlap; a fast record inside does not split it.
	a.Record(Produced, at(2000), at(2050), 10)
	a.Record(Produced, at(2010), at(2011), 10)
	b.Record(Produced, at(2040), at(2120), 10)
	// A second, separate stall, and a record just at the threshold.
	b.Record(Produced, at(3000), at(3015), 10)
	a.Record(Produced, at(4000), at(4010), 10)
	for i := range 5 { // the worst second: p99 of 300 ms
		a.Record(Produced, at(5000+i), at(5300+i), 10)
	}
	s := r.Summarize(at(6000))
	want := []Stall{
		{At: 2, Length: 120, Worst: 80, Records: 2},
		{At: 3, Length: 15, Worst: 15, Records: 1},
		{At: 5, Length: 304, Worst: 300, Records: 5},
	}
	if len(s.AckStalls) != len(want) {
		t.Fatalf("stalls %+v, want %+v", s.AckStalls, want)
	}
	for i := range want {
		if s.AckStalls[i] != want[i] {
			t.Fatalf("stall %d: %+v, want %+v", i, s.AckStalls[i], want[i])
		}
	}
	if len(s.E2EStalls) != 0 {
		t.Fatalf("e2e stalls %+v", s.E2EStalls)
	}
	if s.WorstSecond == nil || s.WorstSecond.T != 6 || math.Abs(s.WorstSecond.Ack.P99-300) > 2 {
		t.Fatalf("worst second %+v", s.WorstSecond)
	}
}

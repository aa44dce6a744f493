package stats

import (
	"slices"
	"time"
)

// StallThreshold is the latency above which a record is part of a stall.
const StallThreshold = 10 * time.Millisecond

// maxStallSpans bounds the spans a shard keeps, so that a broker that is
// slow all the time costs the harness bounded memory; later spans are
// counted, not kept.
const maxStallSpans = 100_000

// Stall is a stretch of time in which records waited longer than
// StallThreshold: the union of [intended send, receipt] over every such
// record whose spans overlap.
type Stall struct {
	At      float64 `json:"at_s"`      // start, seconds since the start of the run
	Length  float64 `json:"length_ms"` // from the first slow record's intended send to the last one's receipt
	Worst   float64 `json:"worst_ms"`  // the longest latency of a record in it
	Records int64   `json:"records"`   // records over the threshold in it
}

// stallSpan is a Stall in absolute time, as a shard collects it.
type stallSpan struct {
	from, to time.Time
	worst    time.Duration
	records  int64
}

// stallLog is one shard's stalls of one kind.
type stallLog struct {
	spans   []stallSpan
	dropped int64 // slow records after the span limit
}

// note adds a slow record; records arrive roughly in order of receipt, so
// a record overlapping the last span extends it.
func (l *stallLog) note(intended, now time.Time) {
	d := now.Sub(intended)
	if n := len(l.spans); n > 0 && !intended.After(l.spans[n-1].to) {
		s := &l.spans[n-1]
		s.from = minTime(s.from, intended)
		s.to = maxTime(s.to, now)
		s.worst = max(s.worst, d)
		s.records++
		return
	}
	if len(l.spans) >= maxStallSpans {
		l.dropped++
		return
	}
	l.spans = append(l.spans, stallSpan{from: intended, to: now, worst: d, records: 1})
}

// mergeStalls joins the shards' overlapping spans into stalls, in order.
func mergeStalls(start time.Time, spans []stallSpan) []Stall {
	slices.SortFunc(spans, func(a, b stallSpan) int { return a.from.Compare(b.from) })
	var merged []stallSpan
	for _, s := range spans {
		if n := len(merged); n > 0 && !s.from.After(merged[n-1].to) {
			m := &merged[n-1]
			m.to = maxTime(m.to, s.to)
			m.worst = max(m.worst, s.worst)
			m.records += s.records
			continue
		}
		merged = append(merged, s)
	}
	out := make([]Stall, len(merged))
	for i, m := range merged {
		out[i] = Stall{
			At:      m.from.Sub(start).Seconds(),
			Length:  float64(m.to.Sub(m.from).Microseconds()) / 1000,
			Worst:   float64(m.worst.Microseconds()) / 1000,
			Records: m.records,
		}
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

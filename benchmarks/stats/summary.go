package stats

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latency is a histogram's summary in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		Count: h.TotalCount(),
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
		Mean:  h.Mean() / 1000,
	}
}

// Throughput is records and payload bytes over a measured window.
type Throughput struct {
	Records       int64   `json:"records"`
	Bytes         int64   `json:"bytes"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"` // MB = 1e6 bytes of record values
}

func throughputOf(records, bytes int64, d time.Duration) Throughput {
	t := Throughput{Records: records, Bytes: bytes}
	if s := d.Seconds(); s > 0 {
		t.RecordsPerSec = float64(records) / s
		t.MBPerSec = float64(bytes) / 1e6 / s
	}
	return t
}

// Point is one interval of the time series; T is its end in seconds
// since the start of the run.
type Point struct {
	T       float64    `json:"t_s"`
	Produce Throughput `json:"produce"`
	Consume Throughput `json:"consume"`
	Ack     Latency    `json:"ack_latency"`
	E2E     Latency    `json:"e2e_latency"`
}

// Errors counts failures and keeps a few messages.
type Errors struct {
	Produce int64    `json:"produce"`
	Consume int64    `json:"consume"`
	Samples []string `json:"samples,omitempty"`
}

// Summary is the outcome of a run.
type Summary struct {
	// The measured window, seconds since the start: whole intervals from
	// the end of the warm-up to the end of producing.
	WindowFrom float64    `json:"window_from_s"`
	WindowTo   float64    `json:"window_to_s"`
	Produce    Throughput `json:"produce"`
	Consume    Throughput `json:"consume"`
	// Latency of every record intended to be sent after the warm-up,
	// measured from that intended time.
	Ack Latency `json:"ack_latency"`
	E2E Latency `json:"e2e_latency"`
	// AckStalls and E2EStalls are the stretches in which records waited
	// longer than StallThreshold, after the warm-up; StallsUnlisted counts
	// slow records beyond the harness's memory bound for them.
	AckStalls      []Stall `json:"ack_stalls"`
	E2EStalls      []Stall `json:"e2e_stalls"`
	StallsUnlisted int64   `json:"stalls_unlisted,omitempty"`
	// WorstSecond is the measured interval with the highest ack p99.
	WorstSecond *Point  `json:"worst_second,omitempty"`
	Errors      Errors  `json:"errors"`
	Series      []Point `json:"series"`
}

// Summarize merges all shards. Throughput is counted over the whole
// intervals between the end of the warm-up and end (the last send).
func (r *Recorder) Summarize(end time.Time) Summary {
	r.mu.Lock()
	shards := append([]*Shard(nil), r.shards...)
	r.mu.Unlock()

	var total [2]*hdrhistogram.Histogram
	for k := range total {
		total[k] = hdrhistogram.New(latencyMinUs, latencyMaxUs, sigFigures)
	}
	var stalls [2][]stallSpan
	var unlisted int64
	n := 0
	for _, s := range shards {
		s.mu.Lock()
		for k := range total {
			total[k].Merge(s.latency[k])
			stalls[k] = append(stalls[k], s.stalls[k].spans...)
			unlisted += s.stalls[k].dropped
		}
		n = max(n, len(s.series))
		s.mu.Unlock()
	}
	sum := Summary{
		Ack:            latencyOf(total[Produced]),
		E2E:            latencyOf(total[Consumed]),
		AckStalls:      mergeStalls(r.start, stalls[Produced]),
		E2EStalls:      mergeStalls(r.start, stalls[Consumed]),
		StallsUnlisted: unlisted,
		Errors: Errors{
			Produce: r.errs[Produced].Load(),
			Consume: r.errs[Consumed].Load(),
			Samples: r.errSamples.list(),
		},
	}
	from := int(r.warmEnd.Sub(r.start) / Interval)
	to := int(end.Sub(r.start) / Interval)
	if to <= from { // a run shorter than its warm-up plus one interval
		from, to = 0, max(1, to)
	}
	var recs, bytes [2]int64
	for i := range n {
		b := mergeInterval(shards, i)
		if i >= from && i < to {
			for k := range recs {
				recs[k] += b.records[k]
				bytes[k] += b.bytes[k]
			}
		}
		p := b.point(i)
		sum.Series = append(sum.Series, p)
		if i >= from && i < to && p.Ack.Count > 0 && (sum.WorstSecond == nil || p.Ack.P99 > sum.WorstSecond.Ack.P99) {
			sum.WorstSecond = &p
		}
	}
	window := time.Duration(to-from) * Interval
	sum.WindowFrom, sum.WindowTo = float64(from), float64(to)
	sum.Produce = throughputOf(recs[Produced], bytes[Produced], window)
	sum.Consume = throughputOf(recs[Consumed], bytes[Consumed], window)
	return sum
}

// IntervalPoint merges interval i of every shard, for a progress line.
func (r *Recorder) IntervalPoint(i int) Point {
	r.mu.Lock()
	shards := append([]*Shard(nil), r.shards...)
	r.mu.Unlock()
	return mergeInterval(shards, i).point(i)
}

func mergeInterval(shards []*Shard, i int) *bucket {
	out := newBucket()
	for _, s := range shards {
		s.mu.Lock()
		if i < len(s.series) && s.series[i] != nil {
			b := s.series[i]
			for k := range out.records {
				out.records[k] += b.records[k]
				out.bytes[k] += b.bytes[k]
				out.latency[k].Merge(b.latency[k])
			}
		}
		s.mu.Unlock()
	}
	return out
}

func (b *bucket) point(i int) Point {
	return Point{
		T:       float64(i+1) * Interval.Seconds(),
		Produce: throughputOf(b.records[Produced], b.bytes[Produced], Interval),
		Consume: throughputOf(b.records[Consumed], b.bytes[Consumed], Interval),
		Ack:     latencyOf(b.latency[Produced]),
		E2E:     latencyOf(b.latency[Consumed]),
	}
}

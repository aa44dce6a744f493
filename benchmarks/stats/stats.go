package stats

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram ranges, in microseconds: 1 µs to 1 hour overall (3 significant
// digits), 1 µs to 10 minutes per interval (2 digits, to keep a series small).
const (
	latencyMinUs      = 1
	latencyMaxUs      = int64(time.Hour / time.Microsecond)
	intervalMaxUs     = int64(10 * time.Minute / time.Microsecond)
	sigFigures        = 3
	intervalSigFigure = 2
)

// Interval is the length of one point of the time series.
const Interval = time.Second

// Kind says which side of the pipeline a sample comes from.
type Kind int

// The two kinds of sample.
const (
	Produced Kind = iota // acknowledged by the broker
	Consumed             // received by a consumer
)

// bucket is one interval of one shard.
type bucket struct {
	records [2]int64
	bytes   [2]int64
	latency [2]*hdrhistogram.Histogram
}

func newBucket() *bucket {
	b := &bucket{}
	for k := range b.latency {
		b.latency[k] = hdrhistogram.New(latencyMinUs, intervalMaxUs, intervalSigFigure)
	}
	return b
}

// Recorder collects the samples of one run. Times before warmEnd are
// warm-up: counted in the totals, excluded from latency histograms.
type Recorder struct {
	start   time.Time
	warmEnd time.Time

	mu     sync.Mutex
	shards []*Shard

	errs       [2]atomic.Int64
	errSamples errorSamples
}

// NewRecorder starts a recorder whose time series begins at start.
func NewRecorder(start time.Time, warmup time.Duration) *Recorder {
	return &Recorder{start: start, warmEnd: start.Add(warmup)}
}

// Start is the beginning of the run; WarmEnd the end of its warm-up.
func (r *Recorder) Start() time.Time   { return r.start }
func (r *Recorder) WarmEnd() time.Time { return r.warmEnd }

// NewShard returns a shard for one producer or consumer.
func (r *Recorder) NewShard() *Shard {
	s := &Shard{r: r}
	for k := range s.latency {
		s.latency[k] = hdrhistogram.New(latencyMinUs, latencyMaxUs, sigFigures)
	}
	r.mu.Lock()
	r.shards = append(r.shards, s)
	r.mu.Unlock()
	return s
}

// Error counts a failed produce or consume; the first few messages are kept.
func (r *Recorder) Error(k Kind, err error) {
	r.errs[k].Add(1)
	r.errSamples.add(err)
}

// Shard is one producer's or consumer's part of a Recorder.
type Shard struct {
	r *Recorder

	mu      sync.Mutex
	total   [2]atomic.Int64 // records, readable without the lock for progress
	latency [2]*hdrhistogram.Histogram
	series  []*bucket
	stalls  [2]stallLog
}

// Record counts one record of size bytes that was intended to be sent at
// intended and was acknowledged (Produced) or received (Consumed) at now.
func (s *Shard) Record(k Kind, intended, now time.Time, size int) {
	us := now.Sub(intended).Microseconds()
	s.mu.Lock()
	b := s.countLocked(k, now, size)
	if !intended.Before(s.r.warmEnd) {
		// Clamp rather than drop: a value out of range is still a sample.
		_ = s.latency[k].RecordValue(clamp(us, latencyMinUs, latencyMaxUs))
		_ = b.latency[k].RecordValue(clamp(us, latencyMinUs, intervalMaxUs))
		if now.Sub(intended) > StallThreshold {
			s.stalls[k].note(intended, now)
		}
	}
	s.mu.Unlock()
}

// Count counts one record of size bytes received at now, without a
// latency: a consume-only run reads records written before it began.
func (s *Shard) Count(k Kind, now time.Time, size int) {
	s.mu.Lock()
	s.countLocked(k, now, size)
	s.mu.Unlock()
}

// countLocked adds a record to the totals and to now's interval, which it
// returns. s.mu held.
func (s *Shard) countLocked(k Kind, now time.Time, size int) *bucket {
	s.total[k].Add(1)
	i := max(0, int(now.Sub(s.r.start)/Interval))
	for len(s.series) <= i {
		s.series = append(s.series, nil)
	}
	b := s.series[i]
	if b == nil {
		b = newBucket()
		s.series[i] = b
	}
	b.records[k]++
	b.bytes[k] += int64(size)
	return b
}

func clamp(v, lo, hi int64) int64 {
	return max(lo, min(v, hi))
}

// Total is the number of records of kind k so far, over all shards.
func (r *Recorder) Total(k Kind) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for _, s := range r.shards {
		n += s.total[k].Load()
	}
	return n
}

// Errors is the number of errors of kind k so far.
func (r *Recorder) Errors(k Kind) int64 { return r.errs[k].Load() }

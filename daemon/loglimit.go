package daemon

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Log rate limit: at most logBurst records of one level and message per
// logInterval; the rest are counted and reported in one summary line when
// the interval ends. An error repeated a thousand times a second then costs
// about a line a second instead of megabytes a minute.
const (
	logBurst    = 10
	logInterval = 10 * time.Second
)

// logClock is the time a rateLimitHandler reads and waits on; tests fake it.
type logClock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func())
}

type realClock struct{}

func (realClock) Now() time.Time                      { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) { time.AfterFunc(d, f) }

// rateLimitHandler passes records to the next handler, at most burst per
// (level, message) per interval once start has been called. When an
// interval in which records were dropped ends, it writes the last dropped
// record, attributes included, with " (suppressed K similar messages)"
// appended to its message. Records are keyed by level and message only, so
// "closing connection" from a thousand clients counts as one key.
type rateLimitHandler struct {
	next  slog.Handler
	state *rateLimitState // shared with the handlers WithAttrs and WithGroup derive
}

type rateLimitState struct {
	burst    int
	interval time.Duration
	clock    logClock
	limiting atomic.Bool

	mu      sync.Mutex
	keys    map[rateLimitKey]*rateLimitWindow
	sweptAt time.Time
}

type rateLimitKey struct {
	level slog.Level
	msg   string
}

// rateLimitWindow is one key's current interval.
type rateLimitWindow struct {
	end        time.Time
	passed     int
	suppressed int
	last       slog.Record  // the last suppressed record
	lastNext   slog.Handler // the handler it was meant for
}

// rateLimitKeysSwept is the key count above which Handle forgets keys whose
// interval has ended, at most once an interval (a sweep walks every key), so
// messages that carry changing text keep only about two intervals' keys.
const rateLimitKeysSwept = 1024

func newRateLimitHandler(next slog.Handler, burst int, interval time.Duration, clock logClock) *rateLimitHandler {
	return &rateLimitHandler{next: next, state: &rateLimitState{
		burst: burst, interval: interval, clock: clock, keys: map[rateLimitKey]*rateLimitWindow{},
	}}
}

// start turns limiting on; until then every record passes.
func (h *rateLimitHandler) start() { h.state.limiting.Store(true) }

func (h *rateLimitHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h *rateLimitHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &rateLimitHandler{next: h.next.WithAttrs(attrs), state: h.state}
}

func (h *rateLimitHandler) WithGroup(name string) slog.Handler {
	return &rateLimitHandler{next: h.next.WithGroup(name), state: h.state}
}

func (h *rateLimitHandler) Handle(ctx context.Context, r slog.Record) error {
	s := h.state
	if !s.limiting.Load() {
		return h.next.Handle(ctx, r)
	}
	key := rateLimitKey{r.Level, r.Message}
	now := s.clock.Now()
	s.mu.Lock()
	w := s.keys[key]
	var ended *rateLimitWindow // a window whose summary is still to write
	if w != nil && !now.Before(w.end) {
		ended, w = w, nil
	}
	if w == nil {
		if len(s.keys) >= rateLimitKeysSwept && !now.Before(s.sweptAt.Add(s.interval)) {
			s.sweepLocked(now)
		}
		w = &rateLimitWindow{end: now.Add(s.interval)}
		s.keys[key] = w
	}
	pass := w.passed < s.burst
	if pass {
		w.passed++
	} else {
		if w.suppressed == 0 {
			s.clock.AfterFunc(w.end.Sub(now), func() { s.flush(key, w) })
		}
		w.suppressed++
		w.last, w.lastNext = r.Clone(), h.next
	}
	s.mu.Unlock()
	if ended != nil && ended.suppressed > 0 {
		ended.writeSummary(ctx, now)
	}
	if !pass {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// flush writes w's summary once its interval ends, unless a record of the
// same key came first and wrote it.
func (s *rateLimitState) flush(key rateLimitKey, w *rateLimitWindow) {
	s.mu.Lock()
	current := s.keys[key] == w
	if current {
		delete(s.keys, key)
	}
	s.mu.Unlock()
	if current {
		w.writeSummary(context.Background(), s.clock.Now())
	}
}

// sweepLocked forgets the keys whose interval has ended with nothing
// suppressed; the others still owe a summary, which flush writes.
func (s *rateLimitState) sweepLocked(now time.Time) {
	s.sweptAt = now
	for k, w := range s.keys {
		if w.suppressed == 0 && !now.Before(w.end) {
			delete(s.keys, k)
		}
	}
}

func (w *rateLimitWindow) writeSummary(ctx context.Context, now time.Time) {
	r := slog.NewRecord(now, w.last.Level,
		w.last.Message+" (suppressed "+strconv.Itoa(w.suppressed)+" similar messages)", w.last.PC)
	w.last.Attrs(func(a slog.Attr) bool {
		r.AddAttrs(a)
		return true
	})
	_ = w.lastNext.Handle(ctx, r) // as for any record, a failed write has nowhere to go
}

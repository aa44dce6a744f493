package daemon

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a logClock that moves only when told; AfterFunc callbacks
// run in Advance, in deadline order.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	f  func()
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timers = append(c.timers, fakeTimer{c.now.Add(d), f})
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due, later []fakeTimer
	for _, t := range c.timers {
		if t.at.After(c.now) {
			later = append(later, t)
		} else {
			due = append(due, t)
		}
	}
	c.timers = later
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

// limitedLogger logs through a started rateLimitHandler (burst 3 per
// second) on a fake clock into a buffer; lines() takes what was written.
type limitedLogger struct {
	*slog.Logger
	h     *rateLimitHandler
	clock *fakeClock
	out   *bytes.Buffer
}

func newLimitedLogger(t *testing.T) *limitedLogger {
	t.Helper()
	out := &bytes.Buffer{}
	text := slog.NewTextHandler(out, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	h := newRateLimitHandler(text, 3, time.Second, clock)
	h.start()
	return &limitedLogger{slog.New(h), h, clock, out}
}

func (l *limitedLogger) lines() []string {
	s := strings.TrimSuffix(l.out.String(), "\n")
	l.out.Reset()
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func expectLines(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRateLimitSuppressesAndSummarizes(t *testing.T) {
	l := newLimitedLogger(t)
	for i := range 1000 {
		l.Error("accept failed", "n", i)
	}
	expectLines(t, l.lines(),
		`level=ERROR msg="accept failed" n=0`,
		`level=ERROR msg="accept failed" n=1`,
		`level=ERROR msg="accept failed" n=2`)
	l.clock.Advance(999 * time.Millisecond)
	expectLines(t, l.lines())
	l.clock.Advance(time.Millisecond)
	expectLines(t, l.lines(), `level=ERROR msg="accept failed (suppressed 997 similar messages)" n=999`)

	// A new interval starts with a fresh burst, and a quiet one owes nothing.
	l.Error("accept failed", "n", 1000)
	l.clock.Advance(5 * time.Second)
	expectLines(t, l.lines(), `level=ERROR msg="accept failed" n=1000`)
}

func TestRateLimitKeysByLevelAndMessage(t *testing.T) {
	l := newLimitedLogger(t)
	for range 4 {
		l.Warn("a")
		l.Error("a")
		l.Warn("b")
	}
	got := l.lines()
	if len(got) != 9 {
		t.Fatalf("want 3 lines for each of 3 keys, got:\n%s", strings.Join(got, "\n"))
	}
	l.clock.Advance(time.Second)
	got = l.lines()
	for _, want := range []string{
		`level=WARN msg="a (suppressed 1 similar messages)"`,
		`level=ERROR msg="a (suppressed 1 similar messages)"`,
		`level=WARN msg="b (suppressed 1 similar messages)"`,
	} {
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("summaries lack %q:\n%s", want, strings.Join(got, "\n"))
		}
	}
}

// A record that comes after its interval ended, before the timer fired,
// writes the summary first; the timer then writes nothing more.
func TestRateLimitSummaryBeforeLateRecord(t *testing.T) {
	l := newLimitedLogger(t)
	for range 5 {
		l.Info("x")
	}
	l.lines()
	l.clock.mu.Lock()
	l.clock.now = l.clock.now.Add(2 * time.Second) // time passes, the timer has not run
	l.clock.mu.Unlock()
	l.Info("x", "late", true)
	expectLines(t, l.lines(), `level=INFO msg="x (suppressed 2 similar messages)"`, `level=INFO msg=x late=true`)
	l.clock.Advance(0)
	expectLines(t, l.lines())
}

// Loggers derived With attributes share the count, and the summary carries
// the attributes of the last suppressed record's logger.
func TestRateLimitSharedByDerivedLoggers(t *testing.T) {
	l := newLimitedLogger(t)
	for i := range 4 {
		l.With("conn", i).WithGroup("g").Warn("closing connection", "err", "bad frame")
	}
	l.clock.Advance(time.Second)
	got := l.lines()
	want := `level=WARN msg="closing connection (suppressed 1 similar messages)" conn=3 g.err="bad frame"`
	if len(got) != 4 || got[3] != want {
		t.Errorf("got:\n%s\nwant 3 lines, then %s", strings.Join(got, "\n"), want)
	}
}

func TestRateLimitOffUntilStarted(t *testing.T) {
	var out bytes.Buffer
	h := newRateLimitHandler(slog.NewTextHandler(&out, nil), 1, time.Second, &fakeClock{})
	for range 10 {
		slog.New(h).Info("recovered log")
	}
	if n := strings.Count(out.String(), "\n"); n != 10 {
		t.Errorf("before start, %d of 10 lines written", n)
	}
}

// Messages with changing text are each a key; keys whose interval ended
// are forgotten, so the map stays bounded.
func TestRateLimitKeysBounded(t *testing.T) {
	l := newLimitedLogger(t)
	for i := range 10 * rateLimitKeysSwept {
		l.Info(fmt.Sprint("message ", i)) // 500 keys an interval
		l.clock.Advance(2 * time.Millisecond)
	}
	if n := len(l.h.state.keys); n > 2*rateLimitKeysSwept {
		t.Errorf("%d keys kept", n)
	}
}

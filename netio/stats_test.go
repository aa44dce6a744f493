package netio

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"
)

// TestQueuedAndBusyTime checks the two timings netio measures: each request
// sees a Queued time between zero and its whole round trip, and the event
// loops' busy time grows with traffic.
func TestQueuedAndBusyTime(t *testing.T) {
	var mu sync.Mutex
	var queued []time.Duration
	h := handlerFunc(func(_ context.Context, c *Conn, frame []byte) ([]Piece, error) {
		mu.Lock()
		queued = append(queued, c.Queued)
		mu.Unlock()
		return []Piece{{Bytes: []byte("re:")}, {Bytes: bytes.Clone(frame)}}, nil
	})
	s := startServer(t, Config{}, h)
	c := dial(t, s, 0)
	const requests = 20
	var roundTrips []time.Duration
	for range requests {
		start := time.Now()
		roundTrip(t, c, "ping")
		roundTrips = append(roundTrips, time.Since(start))
	}
	mu.Lock()
	for i, q := range queued {
		if q <= 0 || q > roundTrips[i] {
			t.Errorf("request %d: Queued = %v, want in (0, %v]", i, q, roundTrips[i])
		}
	}
	mu.Unlock()
	// A callback adds its time as it returns, which may be after the
	// client has its response.
	var busy time.Duration
	waitFor(t, "busy time", func() bool { busy = s.Stats().EventLoopBusy; return busy > 0 })
	roundTrip(t, c, "ping")
	waitFor(t, "busy time to grow with a request", func() bool { return s.Stats().EventLoopBusy > busy })
}

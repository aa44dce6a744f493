package daemon

import (
	"sync/atomic"
	"time"
)

// controllerLease is how long this broker may serve as a coordinator from
// memory: the active controller fences a broker broker_session_timeout_ms
// after it last handled its heartbeat, and may then elect other leaders
// for its partitions. A heartbeat the controller answered unfenced was
// handled after it was sent, so until sent plus most of the session the
// broker surely still holds its partitions; a broker that was paused or
// cut off from the controller stops answering from memory before another
// can take over, instead of serving offsets its successor has replaced.
type controllerLease struct {
	length time.Duration
	until  atomic.Pointer[time.Time] // nil until the first renewal
}

// newControllerLease is a lease of 80% of the session: the rest is room
// for the two processes' clocks running at different rates.
func newControllerLease(session time.Duration) *controllerLease {
	return &controllerLease{length: session * 8 / 10}
}

// renew extends the lease from sent, the time a heartbeat the controller
// answered unfenced was sent.
func (l *controllerLease) renew(sent time.Time) {
	until := sent.Add(l.length)
	if prev := l.until.Load(); prev == nil || until.After(*prev) {
		l.until.Store(&until)
	}
}

// held reports whether the lease has not lapsed.
func (l *controllerLease) held() bool {
	until := l.until.Load()
	return until != nil && time.Now().Before(*until)
}

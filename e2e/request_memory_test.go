package e2e

import (
	"encoding/binary"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riffle/riffle/internal/brokertest"
)

// TestPartialFramesBounded has ten connections each send most of a large
// frame and stop: the broker holds no more than its request-bytes budget
// of them, refuses the rest, closes the senders once request_timeout_ms
// passes, and keeps serving a bystander.
func TestPartialFramesBounded(t *testing.T) {
	const (
		frameSize  = 20 << 20
		budget     = 64 << 20
		senders    = 10
		timeoutMs  = 3000
		rssSlack   = 48 << 20 // event-loop buffers, the bystander's traffic, GC headroom
		closeAfter = 30 * time.Second
	)
	br := brokertest.Start(t,
		"--set", "network.max_request_bytes="+strconv.Itoa(frameSize),
		"--set", "network.queued_max_request_bytes="+strconv.Itoa(budget),
		"--set", "network.request_timeout_ms="+strconv.Itoa(timeoutMs))
	by := startBystander(t, br.Addr())
	by.waitProgress(t, 10, 30*time.Second)
	base := brokerUsage(t, br).rssBytes

	frame := make([]byte, 4+frameSize*95/100)
	binary.BigEndian.PutUint32(frame, frameSize)
	var wg sync.WaitGroup
	closed := make(chan time.Duration, senders)
	start := time.Now()
	for range senders {
		c := dial(t, br.Addr())
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Write(frame) // fails on the refused connections
			c.SetReadDeadline(time.Now().Add(closeAfter))
			var b [1]byte
			if _, err := c.Read(b[:]); err == nil || isTimeout(err) {
				return
			}
			closed <- time.Since(start)
		}()
	}
	var peak int64
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for sampling := true; sampling; {
		peak = max(peak, brokerUsage(t, br).rssBytes)
		select {
		case <-done:
			sampling = false
		case <-time.After(50 * time.Millisecond):
		}
	}
	close(closed)
	n := 0
	for range closed {
		n++
	}
	t.Logf("RSS %d MiB before, peak %d MiB; %d of %d senders closed", base>>20, peak>>20, n, senders)
	if n != senders {
		t.Errorf("%d of %d senders closed by the broker within %v", n, senders, closeAfter)
	}
	if grew := peak - base; grew > budget+rssSlack {
		t.Errorf("RSS grew by %d MiB, more than the %d MiB budget and %d MiB slack", grew>>20, budget>>20, rssSlack>>20)
	}
	out := br.Output()
	for _, want := range []string{"request frame incomplete", "QueuedMaxRequestBytes"} {
		if !strings.Contains(out, want) {
			t.Errorf("broker output lacks %q", want)
		}
	}
	by.check(t, 5*time.Second)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

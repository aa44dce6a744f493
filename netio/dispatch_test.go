package netio

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestDispatchIfIdleHandsOneFrame: the loop and the writer can both find
// the connection idle at once; only one frame may be handed over. With two,
// the worker's own dispatch after the first blocks on the full channel
// while holding readyMu, and the event loop then blocks on readyMu for
// good (seen as a hung Shutdown under -race in CI).
func TestDispatchIfIdleHandsOneFrame(t *testing.T) {
	cs := &connState{s: &Server{}, frames: make(chan dispatched, 1)}
	for range 2 {
		frame := make([]byte, 8)
		cs.ready = append(cs.ready, dispatched{frame: &frame})
	}

	// Both callers get past the unlocked busy check before either takes
	// the lock.
	cs.readyMu.Lock()
	returned := make(chan struct{}, 2)
	for range 2 {
		go func() {
			cs.dispatchIfIdle()
			returned <- struct{}{}
		}()
	}
	waitParkedOnLock(t, 2)
	cs.readyMu.Unlock()

	for range 2 {
		select {
		case <-returned:
		case <-time.After(10 * time.Second):
			t.Fatal("a dispatcher is blocked handing over a second frame")
		}
	}
	if got := len(cs.frames); got != 1 {
		t.Fatalf("%d frames handed to the worker, want 1", got)
	}
	if !cs.busy.Load() || len(cs.ready) != 1 {
		t.Fatalf("busy %v with %d ready, want busy with 1 ready", cs.busy.Load(), len(cs.ready))
	}

	// The worker takes its frame and, done, hands itself the next.
	<-cs.frames
	cs.dispatchNext()
	if len(cs.frames) != 1 || len(cs.ready) != 0 || !cs.busy.Load() {
		t.Fatalf("after the worker's dispatch: %d handed, %d ready, busy %v", len(cs.frames), len(cs.ready), cs.busy.Load())
	}
}

// waitParkedOnLock waits until n goroutines are parked on a mutex inside
// a dispatch.
func waitParkedOnLock(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		stacks := string(buf[:runtime.Stack(buf, true)])
		parked := 0
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "sync.(*Mutex).Lock") && strings.Contains(g, "(*connState).dispatch") {
				parked++
			}
		}
		if parked >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d dispatchers parked on readyMu", parked, n)
		}
		runtime.Gosched()
	}
}

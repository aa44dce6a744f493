package sysprobe

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The wait ends once the counter stops moving, not before; it gives up at
// the limit while the counter keeps moving; a missing counter needs none.
func TestWaitCounterIdle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reported_kib")
	if err := os.WriteFile(path, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stop := make(chan struct{})
	moved := make(chan time.Time, 1)
	go func() { // moves the counter for 300 ms
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if i == 15 {
				moved <- time.Now()
				return
			}
			_ = os.WriteFile(path, []byte(fmt.Sprintf("%d\n", i)), 0o644)
		}
	}()
	waited, idle, err := waitCounterIdle(ctx, path, 200*time.Millisecond, time.Minute, 5*time.Millisecond)
	close(stop)
	if err != nil || !idle {
		t.Fatalf("waited %v, idle %v, err %v", waited, idle, err)
	}
	select {
	case last := <-moved:
		if since := time.Since(last); since < 150*time.Millisecond {
			t.Fatalf("returned %v after the counter last moved, want the quiet time", since)
		}
	default:
		t.Fatalf("returned after %v while the counter was still moving", waited)
	}

	busy := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-busy:
				return
			case <-time.After(5 * time.Millisecond):
			}
			_ = os.WriteFile(path, []byte(fmt.Sprintf("x%d\n", i)), 0o644)
		}
	}()
	_, idle, err = waitCounterIdle(ctx, path, time.Hour, 200*time.Millisecond, 5*time.Millisecond)
	close(busy)
	if err != nil || idle {
		t.Fatalf("a counter that keeps moving: idle %v, err %v", idle, err)
	}

	if _, idle, err := waitCounterIdle(ctx, filepath.Join(t.TempDir(), "none"), time.Hour, time.Hour, time.Millisecond); err != nil || !idle {
		t.Fatalf("no counter: idle %v, err %v", idle, err)
	}
}

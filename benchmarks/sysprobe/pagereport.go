package sysprobe

import (
	"context"
	"errors"
	"os"
	"time"
)

// A VM guest with free page reporting (virtio-balloon) hands memory it
// frees back to the host in passes about two seconds apart, and on the
// VMs these benchmarks ran on a pass that reports hundreds of MiB stopped
// every target's acks for 10-40 ms: after 6 GB of page cache was freed,
// each of a run's early stalls (5.3, 7.4, 9.5, 11.6, 13.7, 15.8 s) fell on
// a pass. A run started just after the previous one deleted its data had
// them for its first seconds, whatever the target; waiting for the passes
// to end keeps the machine's housekeeping out of the measurement.

// pageReportedPath counts the memory reported so far, on kernels that
// expose it; elsewhere there is nothing to wait for.
const pageReportedPath = "/sys/module/page_reporting/parameters/reported_kib"

// WaitPageReportingIdle waits until no free page reporting has happened
// for quiet, at most limit. It returns how long it waited and whether
// reporting went idle (true at once where the kernel has no counter).
func WaitPageReportingIdle(ctx context.Context, quiet, limit time.Duration) (time.Duration, bool, error) {
	if _, err := os.Stat(pageReportedPath); errors.Is(err, os.ErrNotExist) {
		return 0, true, nil
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	read := func() ([]byte, error) { return os.ReadFile(pageReportedPath) }
	return waitCounterIdle(ctx, read, time.Now(), t.C, quiet, limit)
}

// waitCounterIdle reads the counter at start and at each tick until it
// has not changed for quiet, or limit has passed since start.
func waitCounterIdle(ctx context.Context, read func() ([]byte, error), start time.Time, ticks <-chan time.Time, quiet, limit time.Duration) (time.Duration, bool, error) {
	last, err := read()
	if err != nil {
		return 0, false, err
	}
	changed := start
	for {
		select {
		case <-ctx.Done():
			return time.Since(start), false, ctx.Err()
		case now := <-ticks:
			cur, err := read()
			if err != nil {
				return now.Sub(start), false, err
			}
			if string(cur) != string(last) {
				last, changed = cur, now
			}
			switch {
			case now.Sub(changed) >= quiet:
				return now.Sub(start), true, nil
			case now.Sub(start) >= limit:
				return now.Sub(start), false, nil
			}
		}
	}
}

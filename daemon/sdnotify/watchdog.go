package sdnotify

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"
)

// WatchdogInterval is systemd's watchdog timeout for this process, from
// $WATCHDOG_USEC; 0 when the watchdog is off or meant for another process
// ($WATCHDOG_PID names a different pid).
func WatchdogInterval() (time.Duration, error) {
	usText := os.Getenv(envWatchdogUs)
	if usText == "" {
		return 0, nil
	}
	if pidText := os.Getenv(envWatchdogPID); pidText != "" {
		pid, err := strconv.Atoi(pidText)
		if err != nil {
			return 0, fmt.Errorf("sdnotify: %s=%q: %w", envWatchdogPID, pidText, err)
		}
		if pid != os.Getpid() {
			return 0, nil
		}
	}
	us, err := strconv.ParseInt(usText, 10, 64)
	if err != nil || us <= 0 {
		return 0, fmt.Errorf("sdnotify: %s=%q: want a positive number of microseconds", envWatchdogUs, usText)
	}
	return time.Duration(us) * time.Microsecond, nil
}

// HealthFunc reports whether the service can do its job; nil means healthy.
// ctx ends when the next ping is due, so a hung check counts as unhealthy.
type HealthFunc func(ctx context.Context) error

// RunWatchdog pings n every interval/2 for as long as health passes, until
// ctx ends. A failed check skips that ping (and is logged once, as is the
// recovery); if checks keep failing for interval, systemd restarts the
// service. It returns when ctx ends.
func RunWatchdog(ctx context.Context, n *Notifier, interval time.Duration, health HealthFunc, log *slog.Logger) {
	period := interval / 2
	t := time.NewTicker(period)
	defer t.Stop()
	var failing error
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		checkCtx, cancel := context.WithTimeout(ctx, period)
		err := health(checkCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if failing == nil {
				log.Error("sdnotify: health check failed; withholding watchdog pings", "err", err)
			}
			failing = err
			continue
		case failing != nil:
			log.Info("sdnotify: health check passes again; watchdog pings resume")
			failing = nil
		}
		if err := n.Watchdog(); err != nil {
			log.Warn("sdnotify: watchdog ping", "err", err)
		}
	}
}

// KeepExtending sends EXTEND_TIMEOUT_USEC=extend at once and then every
// period until the returned stop is called (stop waits for the last send).
// It keeps a phase of unknown length, such as log recovery, inside systemd's
// start timeout for as long as the process is making that call.
func (n *Notifier) KeepExtending(period, extend time.Duration, log *slog.Logger) (stop func()) {
	if n == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			if err := n.ExtendTimeout(extend); err != nil {
				log.Warn("sdnotify: extend timeout", "err", err)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

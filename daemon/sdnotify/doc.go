// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)) without cgo or libsystemd, and runs a health-gated
// watchdog.
//
// The protocol: the service manager passes a socket path in $NOTIFY_SOCKET
// (a leading '@' names Linux's abstract namespace); the service sends one
// AF_UNIX SOCK_DGRAM datagram per message, newline-separated KEY=VALUE
// assignments. Riffle sends, in order:
//
//	STATUS=recovering logs in DIR      start: while segment recovery runs,
//	EXTEND_TIMEOUT_USEC=N              repeated, so a long recovery is not
//	                                   killed by TimeoutStartSec
//	STATUS=loading metadata
//	READY=1 + STATUS=serving on ADDR   recovered, listener serving
//	WATCHDOG=1                         every WatchdogSec/2 while healthy
//	STOPPING=1 + STATUS=shutting down  on SIGTERM
//
// Without $NOTIFY_SOCKET (not run by systemd) a nil *Notifier results and
// every send is a no-op, so callers need no special case.
//
// Watchdog: with WatchdogSec= set, systemd passes $WATCHDOG_USEC (and
// $WATCHDOG_PID, which must then be our pid) and restarts the service if no
// WATCHDOG=1 arrives within that interval. Watchdog pings at half the
// interval, and only when the caller's health check passes: a wedged
// broker stops pinging and gets restarted, while a live process that
// cannot serve is not kept alive by a timer goroutine that alone still
// runs.
package sdnotify

package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Environment variables systemd sets for a Type=notify service.
const (
	envSocket      = "NOTIFY_SOCKET"
	envWatchdogUs  = "WATCHDOG_USEC"
	envWatchdogPID = "WATCHDOG_PID"
)

// Notifier sends notifications to the service manager. A nil *Notifier
// sends nothing. Safe for concurrent use: each Send is one datagram.
type Notifier struct {
	conn *net.UnixConn
}

// FromEnv connects to $NOTIFY_SOCKET, or returns nil, nil when it is unset
// (the process is not run by systemd as Type=notify).
func FromEnv() (*Notifier, error) {
	path := os.Getenv(envSocket)
	if path == "" {
		return nil, nil
	}
	return Dial(path)
}

// Dial connects to the notification socket at path; a leading '@' names
// the abstract namespace (Go's net package maps it to the leading NUL).
func Dial(path string) (*Notifier, error) {
	if !strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "@") {
		return nil, fmt.Errorf("sdnotify: %s=%q: want an absolute path or @abstract name", envSocket, path)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("sdnotify: %w", err)
	}
	return &Notifier{conn: conn}, nil
}

// Send sends the assignments ("READY=1", "STATUS=...") as one datagram.
// Values must not contain newlines.
func (n *Notifier) Send(assignments ...string) error {
	if n == nil {
		return nil
	}
	if _, err := n.conn.Write([]byte(strings.Join(assignments, "\n") + "\n")); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	return nil
}

// Ready tells systemd start-up is complete, with a status line.
func (n *Notifier) Ready(status string) error {
	return n.Send("READY=1", "STATUS="+oneLine(status))
}

// Status sets the free-form status systemctl status shows.
func (n *Notifier) Status(status string) error { return n.Send("STATUS=" + oneLine(status)) }

// Stopping tells systemd a graceful shutdown has begun.
func (n *Notifier) Stopping(status string) error {
	return n.Send("STOPPING=1", "STATUS="+oneLine(status))
}

// Watchdog is one keep-alive ping.
func (n *Notifier) Watchdog() error { return n.Send("WATCHDOG=1") }

// ExtendTimeout asks systemd to wait d more for the current start-up or
// shutdown phase, counted from now.
func (n *Notifier) ExtendTimeout(d time.Duration) error {
	return n.Send("EXTEND_TIMEOUT_USEC=" + strconv.FormatInt(d.Microseconds(), 10))
}

// Close closes the socket.
func (n *Notifier) Close() error {
	if n == nil {
		return nil
	}
	return n.conn.Close()
}

// oneLine keeps a status to one line: a newline would start a new
// assignment.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

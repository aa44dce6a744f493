package sdnotify

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const readTimeout = 10 * time.Second

// listen is a notification socket like systemd's, at a path or, with a
// leading '@', an abstract name.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// receive reads one datagram, failing the test after readTimeout.
func receive(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(readTimeout)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("want a notification: %v", err)
	}
	return string(buf[:n])
}

func TestSendPathAndAbstract(t *testing.T) {
	for _, name := range []string{
		filepath.Join(t.TempDir(), "notify"),
		"@riffle-sdnotify-test-" + strconv.Itoa(os.Getpid()),
	} {
		srv := listen(t, name)
		t.Setenv("NOTIFY_SOCKET", name)
		n, err := FromEnv()
		if err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			send func() error
			want string
		}{
			{func() error { return n.Status("recovering\nlogs") }, "STATUS=recovering logs\n"},
			{func() error { return n.Ready("serving on 127.0.0.1:9092") }, "READY=1\nSTATUS=serving on 127.0.0.1:9092\n"},
			{n.Watchdog, "WATCHDOG=1\n"},
			{func() error { return n.ExtendTimeout(1500 * time.Millisecond) }, "EXTEND_TIMEOUT_USEC=1500000\n"},
			{func() error { return n.Stopping("shutting down") }, "STOPPING=1\nSTATUS=shutting down\n"},
		}
		for _, s := range steps {
			if err := s.send(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got := receive(t, srv); got != s.want {
				t.Errorf("%s: got %q, want %q", name, got, s.want)
			}
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFromEnvUnsetIsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n, err := FromEnv()
	if err != nil || n != nil {
		t.Fatalf("FromEnv() = %v, %v; want nil, nil", n, err)
	}
	if err := n.Ready("x"); err != nil {
		t.Fatal(err)
	}
	n.KeepExtending(time.Millisecond, time.Second, slog.Default())()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDialErrors(t *testing.T) {
	if _, err := Dial("relative/path"); err == nil || !strings.Contains(err.Error(), "absolute path") {
		t.Errorf("relative path: got %v", err)
	}
	if _, err := Dial(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("absent socket: want an error")
	}
}

func TestWatchdogInterval(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	cases := []struct {
		usec, pid string
		want      time.Duration
		wantErr   bool
	}{
		{"", "", 0, false},
		{"30000000", "", 30 * time.Second, false},
		{"30000000", pid, 30 * time.Second, false},
		{"30000000", "1", 0, false}, // another process's watchdog
		{"soon", "", 0, true},
		{"-5", "", 0, true},
		{"30000000", "me", 0, true},
	}
	for _, c := range cases {
		t.Setenv("WATCHDOG_USEC", c.usec)
		t.Setenv("WATCHDOG_PID", c.pid)
		got, err := WatchdogInterval()
		if got != c.want || (err != nil) != c.wantErr {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: got %v, %v; want %v, error %v", c.usec, c.pid, got, err, c.want, c.wantErr)
		}
	}
}

// TestRunWatchdogPingsOnlyWhenHealthy runs the watchdog with a health check
// that fails on some calls. The pinger is sequential (check, ping, wait), so
// at each check the socket holds exactly the pings since the previous check.
func TestRunWatchdogPingsOnlyWhenHealthy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	srv := listen(t, path)
	n, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	healthy := []bool{false, false, true, true, false, true, true}
	ctx, cancel := context.WithCancel(context.Background())
	var problems []string
	call := 0
	health := func(context.Context) error {
		if call > 0 {
			got := drain(srv)
			want := 0
			if healthy[call-1] {
				want = 1
			}
			if got != want {
				problems = append(problems, "after check "+strconv.Itoa(call)+": "+strconv.Itoa(got)+" pings, want "+strconv.Itoa(want))
			}
		}
		if call == len(healthy) {
			cancel()
			return nil
		}
		call++
		if !healthy[call-1] {
			return errors.New("not serving")
		}
		return nil
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		RunWatchdog(ctx, n, 20*time.Millisecond, health, slog.New(slog.NewTextHandler(io.Discard, nil)))
	})
	wg.Wait()
	if call != len(healthy) {
		t.Fatalf("health checked %d times, want %d", call, len(healthy))
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// drain counts the datagrams waiting on conn, all of which must be pings.
// (A deadline already past would fail reads without trying them; one a
// millisecond ahead reads what is queued, then stops.)
func drain(conn *net.UnixConn) int {
	count := 0
	buf := make([]byte, 64)
	for {
		if err := conn.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
			return -1
		}
		n, err := conn.Read(buf)
		if err != nil {
			return count
		}
		if string(buf[:n]) != "WATCHDOG=1\n" {
			return -1
		}
		count++
	}
}

func TestKeepExtending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	srv := listen(t, path)
	n, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	stop := n.KeepExtending(5*time.Millisecond, 15*time.Second, slog.Default())
	for range 3 {
		if got := receive(t, srv); got != "EXTEND_TIMEOUT_USEC=15000000\n" {
			t.Fatalf("got %q", got)
		}
	}
	stop()
	drain(srv)
	// stop waited for the sender: nothing more arrives, even well after
	// several periods. The deadline bounds this negative check.
	if err := srv.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Read(make([]byte, 64)); err == nil {
		t.Error("a notification arrived after stop")
	}
}

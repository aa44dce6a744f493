package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/riffle/riffle/internal/brokertest"
)

// systemdAnalyze finds systemd-analyze (Debian package systemd, installed
// by scripts/install-test-deps.sh).
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (Debian package systemd; scripts/install-test-deps.sh installs it): cannot check systemd/riffle.service")
	}
	return path
}

// unitForBinary is systemd/riffle.service with ExecStart running bin:
// verify checks that the command exists, and /usr/bin/riffle need not.
func unitForBinary(t *testing.T, bin string) string {
	t.Helper()
	unit, err := os.ReadFile("../systemd/riffle.service")
	if err != nil {
		t.Fatal(err)
	}
	const execStart = "ExecStart=/usr/bin/riffle "
	if !strings.Contains(string(unit), execStart) {
		t.Fatalf("systemd/riffle.service: no %q line", execStart)
	}
	path := filepath.Join(t.TempDir(), "riffle.service")
	text := strings.Replace(string(unit), execStart, "ExecStart="+bin+" ", 1)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSystemdUnitVerifies runs `systemd-analyze verify` on the unit; it
// exits 0 even for unknown keys and bad values, so any output fails too.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze := systemdAnalyze(t)
	unit := unitForBinary(t, brokertest.Binary(t))
	out, err := exec.Command(analyze, "verify", "--man=no", unit).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// Overall exposure as `systemd-analyze security` scores it, 0 (locked
	// down) to 10 (unprotected); the unit scores 1.4.
	out, err = exec.Command(analyze, "security", "--offline=true", "--threshold=20", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: exposure above 2.0 (%v):\n%s", err, out)
	}
}

// TestSystemdUnitCatchesMistakes shows the check above can fail: a typo'd
// key and a missing binary are both reported.
func TestSystemdUnitCatchesMistakes(t *testing.T) {
	analyze := systemdAnalyze(t)
	unit := unitForBinary(t, filepath.Join(t.TempDir(), "absent-riffle"))
	text, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(unit, []byte(strings.Replace(string(text), "ProtectHome=", "ProtectHom=", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(analyze, "verify", "--man=no", unit).CombinedOutput()
	for _, want := range []string{"Unknown key 'ProtectHom'", "absent-riffle is not executable"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("systemd-analyze verify output lacks %q:\n%s", want, out)
		}
	}
}

// TestSystemdSysusers applies systemd/riffle.sysusers to an empty root and
// finds the riffle user and group.
func TestSystemdSysusers(t *testing.T) {
	sysusers, err := exec.LookPath("systemd-sysusers")
	if err != nil {
		t.Skip("systemd-sysusers not installed (Debian package systemd): cannot check systemd/riffle.sysusers")
	}
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf, err := filepath.Abs("../systemd/riffle.sysusers") // a relative one would be read under root
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sysusers, "--root="+root, conf).CombinedOutput(); err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(passwd), "riffle:x:") || !strings.Contains(string(passwd), ":/var/lib/riffle:") {
		t.Errorf("passwd: want the riffle user with home /var/lib/riffle, got:\n%s", passwd)
	}
}

// TestSdNotifySequence runs the broker as systemd would run a Type=notify
// service with WatchdogSec=, on a socket the test listens on, and checks the
// notifications: recovery status and timeout extension, READY=1 naming the
// listener, which then serves, watchdog pings, and STOPPING=1 on SIGTERM
// with no ping after it.
func TestSdNotifySequence(t *testing.T) {
	sockPath := filepath.Join(t.TempDir(), "notify")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()

	dataDir := t.TempDir()
	cmd := exec.Command(brokertest.Binary(t), "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--admin-listen", "")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sockPath, "WATCHDOG_USEC=400000")
	var output strings.Builder
	cmd.Stdout, cmd.Stderr = &output, &output
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill() // fails only once it has exited
		<-exited
		if t.Failed() {
			t.Logf("broker output:\n%s", output.String())
		}
	}()

	n := notifications{t: t, sock: sock}
	n.expect("STATUS=recovering logs in " + dataDir)
	n.expect("EXTEND_TIMEOUT_USEC=15000000")
	n.skipping("EXTEND_TIMEOUT_USEC=15000000").expect("STATUS=loading metadata")
	ready := n.next()
	addr, ok := strings.CutPrefix(ready, "READY=1\nSTATUS=serving on ")
	if !ok {
		t.Fatalf("got %q, want READY=1 and the serving status", ready)
	}
	expectServing(t, addr)
	for range 3 {
		n.expect("WATCHDOG=1")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	n.skipping("WATCHDOG=1").expect("STOPPING=1\nSTATUS=shutting down")
	select {
	case err := <-exited:
		exited <- err // for the deferred cleanup
		if err != nil {
			t.Fatalf("broker exit after SIGTERM: %v", err)
		}
	case <-time.After(brokertest.StopTimeout):
		t.Fatal("broker still running after SIGTERM")
	}
	if extra := n.pending(); len(extra) > 0 {
		t.Errorf("notifications after STOPPING=1: %q", extra)
	}
}

// notifications reads the test's notification socket in order.
type notifications struct {
	t    *testing.T
	sock *net.UnixConn
	skip string // a message next() passes over, set by skipping
}

func (n *notifications) next() string {
	n.t.Helper()
	buf := make([]byte, 4096)
	for {
		if err := n.sock.SetReadDeadline(time.Now().Add(brokertest.ReadyTimeout)); err != nil {
			n.t.Fatal(err)
		}
		size, err := n.sock.Read(buf)
		if err != nil {
			n.t.Fatalf("waiting for a notification: %v", err)
		}
		msg := strings.TrimSuffix(string(buf[:size]), "\n")
		if msg != n.skip {
			n.skip = ""
			return msg
		}
	}
}

// skipping makes the next read pass over repeats of msg.
func (n *notifications) skipping(msg string) *notifications {
	n.skip = msg
	return n
}

func (n *notifications) expect(want string) {
	n.t.Helper()
	if got := n.next(); got != want {
		n.t.Fatalf("got notification %q, want %q", got, want)
	}
}

// pending returns what is queued on the socket now (the sender has exited).
func (n *notifications) pending() []string {
	var msgs []string
	buf := make([]byte, 4096)
	for {
		// A deadline already past would fail the read untried.
		if err := n.sock.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
			n.t.Fatal(err)
		}
		size, err := n.sock.Read(buf)
		if err != nil {
			return msgs
		}
		msgs = append(msgs, string(buf[:size]))
	}
}

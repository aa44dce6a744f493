package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/riffle/riffle/daemon"
	"github.com/riffle/riffle/internal/brokertest"
)

// startupRun is a broker process that was expected not to start.
type startupRun struct {
	stdout, stderr string
	code           int
	ready          bool // it started serving instead (then it was stopped)
}

// runBroker runs the broker binary bin with args until it exits or writes
// its ready file; cred, if set, runs it as that user.
func runBroker(t *testing.T, bin string, cred *syscall.Credential, args ...string) startupRun {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	ctx, cancel := context.WithTimeout(context.Background(), brokertest.ReadyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--ready-file", ready}, args...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case err := <-exited:
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatalf("riffle %s: %v", strings.Join(args, " "), err)
			}
			return startupRun{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
		case <-poll.C:
			if _, err := os.Stat(ready); err == nil {
				cmd.Process.Signal(syscall.SIGTERM)
				<-exited
				return startupRun{stdout: stdout.String(), stderr: stderr.String(), ready: true}
			}
		}
	}
}

// expectStartFailure checks the exit code, the one line naming the cause
// and that nothing panicked.
func expectStartFailure(t *testing.T, r startupRun, code int, cause string) {
	t.Helper()
	if r.ready {
		t.Fatalf("broker started; want exit %d and %q\n%s", code, cause, r.stderr)
	}
	var causes []string
	for _, line := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(line, "riffle: cannot start: ") {
			causes = append(causes, line)
		}
	}
	if want := "riffle: cannot start: " + cause; r.code != code || len(causes) != 1 || causes[0] != want {
		t.Errorf("exit %d, cause lines %q; want exit %d and %q\nstderr:\n%s", r.code, causes, code, want, r.stderr)
	}
	if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
		t.Errorf("stderr has a panic trace:\n%s", r.stderr)
	}
}

// holdPort listens on a loopback port without SO_REUSEPORT, as a process
// other than riffle would.
func holdPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func TestStartupListenerInUse(t *testing.T) {
	bin := brokertest.Binary(t)
	t.Run("kafka", func(t *testing.T) {
		held := holdPort(t)
		r := runBroker(t, bin, nil, "--data-dir", t.TempDir(), "--listen", held, "--admin-listen", "127.0.0.1:0")
		if r.ready {
			t.Skip("netio.Listen shared a port held without SO_REUSEPORT; this case needs netio's exclusive bind")
		}
		expectStartFailure(t, r, daemon.ExitListen, "listen "+held+": address already in use")
	})
	t.Run("admin", func(t *testing.T) {
		held := holdPort(t)
		r := runBroker(t, bin, nil, "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--admin-listen", held)
		expectStartFailure(t, r, daemon.ExitListen, "admin listen "+held+": address already in use")
	})
	t.Run("cluster", func(t *testing.T) {
		held := holdPort(t)
		r := runBroker(t, bin, nil, "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
			"--set", "cluster.voters=1@"+held+",2@127.0.0.1:1,3@127.0.0.1:2", "--set", "cluster.listen="+held)
		expectStartFailure(t, r, daemon.ExitListen, "cluster listen "+held+": address already in use")
	})
}

func TestStartupDataDirIsAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runBroker(t, brokertest.Binary(t), nil, "--data-dir", file, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	expectStartFailure(t, r, daemon.ExitDataDir, "data dir "+file+": not a directory")
}

// A data directory without write permission. Root ignores file modes, so
// as root the broker runs as nobody (uid 65534), from a copy of the binary
// that nobody may run.
func TestStartupDataDirNotWritable(t *testing.T) {
	bin := brokertest.Binary(t)
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
		bin = copyBinaryForAll(t, bin)
	}
	dir := worldReadableDir(t)
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	r := runBroker(t, bin, cred, "--data-dir", dir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	expectStartFailure(t, r, daemon.ExitDataDir, "data dir "+dir+": permission denied")
}

// worldReadableDir is a fresh directory that every user can reach.
func worldReadableDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "riffle-startup-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Chmod(dir, 0o755)
		os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func copyBinaryForAll(t *testing.T, bin string) string {
	t.Helper()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(worldReadableDir(t), "riffle")
	if err := os.WriteFile(cp, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return cp
}

// A data directory on a read-only filesystem: a read-only tmpfs, which
// needs root (CAP_SYS_ADMIN).
func TestStartupDataDirReadOnlyFS(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_RDONLY, "size=1m"); err != nil {
		t.Skipf("cannot mount a read-only tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	r := runBroker(t, brokertest.Binary(t), nil, "--data-dir", dir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	expectStartFailure(t, r, daemon.ExitDataDir, "data dir "+dir+": read-only file system")
}

// A second broker on a data directory in use fails, naming the directory
// and the first broker's pid; the first keeps serving, and once it stops
// the directory is free again.
func TestStartupSecondBrokerOnDataDir(t *testing.T) {
	b := brokertest.Start(t)
	r := runBroker(t, brokertest.Binary(t), nil, "--data-dir", b.DataDir(), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	lockFile := filepath.Join(b.DataDir(), ".lock")
	expectStartFailure(t, r, daemon.ExitDataDir, fmt.Sprintf("data dir %s: locked by process %d (%s)", b.DataDir(), b.PID(), lockFile))
	c, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatalf("first broker no longer serving: %v", err)
	}
	c.Close()
	b.Restart() // fails the test unless the stopped broker released the lock
}

func TestStartupVersion(t *testing.T) {
	r := runBroker(t, brokertest.Binary(t), nil, "--version", "--set", "log.segment_bytes=10")
	want := regexp.MustCompile(`^riffle \S+ \(commit (unknown|[0-9a-f]{40}(\+dirty)?), ` + regexp.QuoteMeta(runtime.Version()) + `\)\n$`)
	if r.code != 0 || !want.MatchString(r.stdout) || r.stderr != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 0 and %v", r.code, r.stdout, r.stderr, want)
	}
}

// The start-up log names both bound listeners, with their real ports.
func TestStartupLogNamesAddresses(t *testing.T) {
	b := brokertest.Start(t)
	want := fmt.Sprintf(`msg="riffle: serving" listen=%s admin_listen=%s `, b.Addr(), b.AdminAddr())
	if out := b.Output(); !strings.Contains(out, want) {
		t.Errorf("log lacks %q:\n%s", want, out)
	}
}

// The broker raises its soft open-files limit to the hard limit, even when
// started with a lower one.
func TestStartupRaisesFileLimit(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = min(lim.Max/2, 1024)
	// The child inherits this process's limit (Setrlimit stops os/exec
	// from restoring the one this process started with).
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	b := brokertest.Start(t)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", b.PID()))
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(fmt.Sprintf(`(?m)^Max open files +%d +%d +files`, lim.Max, lim.Max))
	if !want.Match(limits) {
		t.Errorf("broker limits, want soft = hard = %d:\n%s", lim.Max, limits)
	}
	logWant := regexp.MustCompile(fmt.Sprintf(`msg="riffle: open files limit" soft_was=\d+ soft=%d hard=%d\n`, lim.Max, lim.Max))
	if out := b.Output(); !logWant.MatchString(out) {
		t.Errorf("log lacks %v:\n%s", logWant, out)
	}
}

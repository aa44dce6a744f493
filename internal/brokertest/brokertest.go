package brokertest

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeouts for a broker to come up and to shut down. Generous: CI's two
// cores may be busy with other test binaries.
const (
	ReadyTimeout = 60 * time.Second
	StopTimeout  = 60 * time.Second
)

// stderrTailBytes is how much of the broker's output a failing test logs.
const stderrTailBytes = 64 << 10

var build struct {
	once sync.Once
	dir  string // set by Run
	bin  string
	err  error
}

// Run is for TestMain: it runs the tests and then removes the binary Binary
// built. Use it as `func TestMain(m *testing.M) { os.Exit(brokertest.Run(m)) }`.
func Run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "brokertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "brokertest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	build.dir = dir
	return m.Run()
}

// Binary returns the path of the riffle binary: $RIFFLE_BIN if set, else one
// built with `go build` on first use in this test process (which needs Run
// in TestMain, so the binary is removed afterwards).
func Binary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("RIFFLE_BIN"); bin != "" {
		return bin
	}
	if build.dir == "" {
		t.Fatal("brokertest: call brokertest.Run(m) from TestMain, or set RIFFLE_BIN")
	}
	build.once.Do(func() {
		bin := filepath.Join(build.dir, "riffle")
		out, err := exec.Command("go", "build", "-o", bin, "github.com/riffle/riffle/daemon/cmd/riffle").CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go build riffle: %w\n%s", err, out)
			return
		}
		build.bin = bin
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

// Broker is one riffle process under test with its own data directory.
// Its methods are for the test's goroutine.
type Broker struct {
	t       testing.TB
	bin     string
	args    []string // the caller's extra flags
	nofile  int      // RLIMIT_NOFILE (soft and hard) for the process; 0: inherited
	dataDir string
	runDir  string   // holds the ready file and the output log
	addr    string   // bound Kafka listener, from the ready file
	admin   string   // bound admin (HTTP) listener, from the ready file
	more    []string // further Kafka listeners (broker.listeners), from the ready file
	proc    *process
}

// Start runs a broker with a fresh data directory (t.TempDir()), listening
// on 127.0.0.1 at a port it picks, and waits until it serves. extraArgs are
// added to the command line, e.g. "--set", "log.segment_bytes=4096"; being
// last they override the harness's own flags. The broker is stopped when
// the test ends; if the test failed, the tail of its output is logged.
func Start(t testing.TB, extraArgs ...string) *Broker {
	t.Helper()
	return StartInDir(t, t.TempDir(), extraArgs...)
}

// StartInDir is Start on the data directory dataDir (the broker creates it
// if absent), e.g. on a filesystem the test made; the test removes it.
func StartInDir(t testing.TB, dataDir string, extraArgs ...string) *Broker {
	t.Helper()
	b := &Broker{t: t, bin: Binary(t), args: extraArgs, dataDir: dataDir, runDir: t.TempDir()}
	t.Cleanup(b.cleanup)
	b.launch("127.0.0.1:0")
	return b
}

// StartWithNoFile is Start with the broker's RLIMIT_NOFILE, soft and hard,
// set to nofile (through prlimit(1) from util-linux; the test is skipped
// without it), for tests that run the broker out of descriptors.
func StartWithNoFile(t testing.TB, nofile int, extraArgs ...string) *Broker {
	t.Helper()
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit not installed (Debian package util-linux): cannot limit the broker's descriptors")
	}
	b := &Broker{t: t, bin: Binary(t), args: extraArgs, nofile: nofile, dataDir: t.TempDir(), runDir: t.TempDir()}
	t.Cleanup(b.cleanup)
	b.launch("127.0.0.1:0")
	return b
}

// Addr is the broker's Kafka listener, "127.0.0.1:port".
func (b *Broker) Addr() string { return b.addr }

// AdminAddr is the broker's admin HTTP listener (/metrics, /healthz), "127.0.0.1:port".
func (b *Broker) AdminAddr() string { return b.admin }

// PID is the broker process's id, for reading its CPU time and memory.
func (b *Broker) PID() int { return b.proc.cmd.Process.Pid }

// DataDir is the broker's data directory; it outlives restarts.
func (b *Broker) DataDir() string { return b.dataDir }

// Output is everything the broker wrote to stdout and stderr so far, across restarts.
func (b *Broker) Output() string {
	out, err := os.ReadFile(b.logPath())
	if err != nil {
		b.t.Fatalf("brokertest: %v", err)
	}
	return string(out)
}

// Stop sends SIGTERM and waits for the broker to exit; the test fails if it
// does not exit 0 within StopTimeout (it is then killed).
func (b *Broker) Stop() {
	b.t.Helper()
	if b.proc == nil {
		return
	}
	p := b.proc
	b.proc = nil
	if err := p.stop(StopTimeout); err != nil {
		b.t.Errorf("brokertest: stop: %v\n%s", err, b.tail())
	}
}

// Kill sends SIGKILL, as a crash or power loss of the process would, and
// waits for the broker to be gone.
func (b *Broker) Kill() {
	b.t.Helper()
	if b.proc == nil {
		return
	}
	b.proc.kill()
	b.proc = nil
}

// Restart stops the broker (if it runs) and starts it again on the same
// data directory and the same port, so clients reconnect to Addr. The test
// fails if another process took the port in between (unlikely on loopback).
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	b.launch(b.addr)
}

// RestartUnready is Restart without waiting for the broker to serve, for
// a node expected never to reach its quorum; Output tells why. End it
// with Kill: a node still waiting for the quorum does not exit 0.
func (b *Broker) RestartUnready() {
	b.t.Helper()
	b.Stop()
	b.spawn(b.addr)
}

// RestartOnNewPort is Restart with a freshly picked port; Addr changes.
func (b *Broker) RestartOnNewPort() {
	b.t.Helper()
	b.Stop()
	b.launch("127.0.0.1:0")
}

func (b *Broker) readyPath() string { return filepath.Join(b.runDir, "ready") }
func (b *Broker) logPath() string   { return filepath.Join(b.runDir, "output.log") }

// launch starts the process listening on listen and waits for its ready file.
func (b *Broker) launch(listen string) {
	b.t.Helper()
	b.spawn(listen)
	b.awaitReady()
}

// spawn starts the process listening on listen.
func (b *Broker) spawn(listen string) {
	b.t.Helper()
	if err := os.Remove(b.readyPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		b.t.Fatalf("brokertest: %v", err)
	}
	args := append([]string{
		"--data-dir", b.dataDir,
		"--listen", listen,
		"--admin-listen", "127.0.0.1:0",
		"--ready-file", b.readyPath(),
	}, b.args...)
	bin := b.bin
	if b.nofile > 0 {
		bin, args = "prlimit", append([]string{fmt.Sprintf("--nofile=%d:%d", b.nofile, b.nofile), "--", b.bin}, args...)
	}
	p, err := startProcess(bin, args, b.logPath())
	if err != nil {
		b.t.Fatalf("brokertest: %v", err)
	}
	b.proc = p
	b.addr = listen
}

// awaitReady waits for the ready file of the process spawn started.
func (b *Broker) awaitReady() {
	b.t.Helper()
	addrs, err := waitReady(b.readyPath(), b.proc, ReadyTimeout)
	if err != nil {
		b.t.Fatalf("brokertest: %v\n%s", err, b.tail())
	}
	b.addr = addrs[0]
	if len(addrs) > 1 {
		b.admin = addrs[1]
	}
	if len(addrs) > 2 {
		b.more = addrs[2:]
	}
}

// Listeners are the Kafka listeners after the first when broker.listeners
// names several (in its order, the inter-broker one left out); the broker
// must have an admin listener for the ready file to tell them apart.
func (b *Broker) Listeners() []string { return b.more }

// cleanup stops a broker still running and shows its output if the test failed.
func (b *Broker) cleanup() {
	b.Stop()
	if b.t.Failed() {
		b.t.Logf("brokertest: broker %s output (last %d KiB):\n%s", b.addr, stderrTailBytes>>10, b.tail())
	}
}

// tail is the end of the broker's output, for failure messages.
func (b *Broker) tail() string {
	out, err := os.ReadFile(b.logPath())
	if err != nil {
		return fmt.Sprintf("(no output: %v)", err)
	}
	if len(out) > stderrTailBytes {
		out = out[len(out)-stderrTailBytes:]
	}
	return string(out)
}

// process is a running broker and the result of waiting for it.
type process struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed once waitErr is set
	waitErr error
}

// startProcess runs bin with args, appending its stdout and stderr to logPath.
func startProcess(bin string, args []string, logPath string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own copy
	fmt.Fprintf(logFile, "=== brokertest: %s %s\n", bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// If the test process dies, the broker must not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// stop sends SIGTERM and waits; after timeout it kills the process.
func (p *process) stop(timeout time.Duration) error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	select {
	case <-p.exited:
		if p.waitErr != nil {
			return fmt.Errorf("broker exited after SIGTERM: %w", p.waitErr)
		}
		return nil
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("broker still running %v after SIGTERM; killed", timeout)
	}
}

func (p *process) kill() {
	_ = p.cmd.Process.Kill() // fails only if it has exited already
	<-p.exited
}

// waitReady polls the ready file until it holds an address, the process
// exits, or timeout passes.
func waitReady(path string, p *process, timeout time.Duration) ([]string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			return ParseReadyFile(data)
		case !errors.Is(err, os.ErrNotExist):
			return nil, err
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("broker exited before it was ready: %v", p.waitErr)
		case <-deadline.C:
			return nil, fmt.Errorf("broker not ready after %v (no %s)", timeout, path)
		case <-poll.C:
		}
	}
}

// ParseReadyFile reads the ready file's contract: one bound address,
// "host:port", a line: the Kafka listener first, then the admin listener
// when the broker has one.
func ParseReadyFile(data []byte) ([]string, error) {
	text := string(data)
	if !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("ready file %q: want newline-terminated host:port lines", data)
	}
	addrs := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for _, a := range addrs {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" || port == "0" {
			return nil, fmt.Errorf("ready file: %q is not a bound host:port", a)
		}
	}
	return addrs, nil
}

// RaceBuilt reports whether the broker binary was built with -race, whose
// shadow memory makes resident-memory bounds meaningless.
func RaceBuilt(t testing.TB) bool {
	t.Helper()
	info, err := buildinfo.ReadFile(Binary(t))
	if err != nil {
		t.Fatalf("brokertest: build info of %s: %v", Binary(t), err)
	}
	for _, s := range info.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

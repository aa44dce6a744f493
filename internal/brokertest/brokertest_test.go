package brokertest

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/riffle/riffle/daemon"
)

// fakeEnv makes the test binary, run as a child, act as a broker:
// "serve" listens and writes the ready file, "crash" exits at once,
// "hang" never gets ready, "badexit" exits 1 on SIGTERM.
const fakeEnv = "BROKERTEST_FAKE"

// hangMarker is what a hanging fake prints once it handles SIGTERM.
const hangMarker = "fake broker: hanging"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeEnv); mode != "" {
		os.Exit(fakeBroker(mode, os.Args[1:]))
	}
	os.Exit(Run(m))
}

func fakeBroker(mode string, args []string) int {
	fs := flag.NewFlagSet("fake", flag.ContinueOnError)
	listen := fs.String("listen", "", "")
	readyFile := fs.String("ready-file", "", "")
	fs.String("data-dir", "", "")
	fs.String("admin-listen", "", "")
	fs.Func("set", "", func(string) error { return nil })
	if err := fs.Parse(args); err != nil {
		return 2
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	switch mode {
	case "crash":
		fmt.Fprintln(os.Stderr, "fake broker: boom")
		return 3
	case "hang":
		fmt.Fprintln(os.Stderr, hangMarker) // SIGTERM is handled from here on
		<-term
		return 0
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake broker:", err)
		return 1
	}
	if err := daemon.WriteReadyFile(*readyFile, ln.Addr().String()); err != nil {
		fmt.Fprintln(os.Stderr, "fake broker:", err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "fake broker serving", ln.Addr())
	<-term
	ln.Close()
	if mode == "badexit" {
		return 1
	}
	return 0
}

// useFake makes Binary return this test binary in the given fake mode.
func useFake(t *testing.T, mode string) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("RIFFLE_BIN", exe)
	t.Setenv(fakeEnv, mode)
	return exe
}

func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func TestStartRestartKill(t *testing.T) {
	useFake(t, "serve")
	b := Start(t, "--set", "log.segment_bytes=4096")
	addr := b.Addr()
	if !strings.HasPrefix(addr, "127.0.0.1:") || !dialable(addr) {
		t.Fatalf("Addr %q not serving", addr)
	}
	if fi, err := os.Stat(b.DataDir()); err != nil || !fi.IsDir() {
		t.Fatalf("data dir: %v", err)
	}
	b.Restart()
	if b.Addr() != addr || !dialable(addr) {
		t.Fatalf("after Restart Addr = %q, want %q serving", b.Addr(), addr)
	}
	b.Kill()
	if dialable(addr) {
		t.Fatal("still serving after Kill")
	}
	b.RestartOnNewPort()
	if !dialable(b.Addr()) {
		t.Fatalf("after RestartOnNewPort %q not serving", b.Addr())
	}
	out := b.Output()
	if n := strings.Count(out, "fake broker serving"); n != 3 {
		t.Errorf("output shows %d starts, want 3:\n%s", n, out)
	}
	for _, want := range []string{"--data-dir " + b.DataDir(), "--listen " + addr, "--set log.segment_bytes=4096"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	b.Stop()
	if dialable(b.Addr()) {
		t.Fatal("still serving after Stop")
	}
}

// startFake runs the fake broker in mode directly, without a testing.TB
// that a failure would end.
func startFake(t *testing.T, mode string) (*process, string, string) {
	exe := useFake(t, mode)
	dir := t.TempDir()
	ready, log := filepath.Join(dir, "ready"), filepath.Join(dir, "out.log")
	p, err := startProcess(exe, []string{"--listen", "127.0.0.1:0", "--ready-file", ready}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	return p, ready, log
}

func TestWaitReadyNoticesExit(t *testing.T) {
	p, ready, log := startFake(t, "crash")
	_, err := waitReady(ready, p, ReadyTimeout)
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") {
		t.Fatalf("err = %v", err)
	}
	if out, _ := os.ReadFile(log); !strings.Contains(string(out), "fake broker: boom") {
		t.Errorf("output not captured: %q", out)
	}
}

func TestWaitReadyTimesOut(t *testing.T) {
	p, ready, log := startFake(t, "hang")
	_, err := waitReady(ready, p, 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "not ready after") {
		t.Fatalf("err = %v", err)
	}
	// A SIGTERM before the fake handles it would kill it (slow starts
	// under -race on a busy machine).
	for deadline := time.Now().Add(ReadyTimeout); ; {
		if out, _ := os.ReadFile(log); strings.Contains(string(out), hangMarker) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the fake broker never started hanging")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.stop(StopTimeout); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

func TestStopReportsBadExit(t *testing.T) {
	p, ready, _ := startFake(t, "badexit")
	if _, err := waitReady(ready, p, ReadyTimeout); err != nil {
		t.Fatal(err)
	}
	err := p.stop(StopTimeout)
	if err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("stop = %v, want the exit status", err)
	}
}

func TestParseReadyFile(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"127.0.0.1:9092\n", []string{"127.0.0.1:9092"}},
		{"[::1]:9092\n127.0.0.1:9644\n", []string{"[::1]:9092", "127.0.0.1:9644"}},
		{"127.0.0.1:9092", nil}, // no newline: not fully written
		{"127.0.0.1:0\n", nil},
		{"127.0.0.1:9092\nadmin\n", nil},
		{"127.0.0.1\n", nil},
		{"\n", nil},
	} {
		got, err := ParseReadyFile([]byte(tc.in))
		if !slices.Equal(got, tc.want) || (err == nil) != (tc.want != nil) {
			t.Errorf("ParseReadyFile(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

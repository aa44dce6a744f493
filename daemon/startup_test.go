package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riffle/riffle/internal/testport"
)

func TestLockDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	l, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := os.ReadFile(filepath.Join(dir, lockFileName))
	if err != nil || string(pid) != fmt.Sprintln(os.Getpid()) {
		t.Errorf("lock file holds %q (%v), want this pid", pid, err)
	}
	// flock conflicts between open files, so a second lock in this
	// process fails as a second broker's would.
	_, err = lockDataDir(dir)
	want := fmt.Sprintf("data dir %s: locked by process %d (%s)", dir, os.Getpid(), filepath.Join(dir, lockFileName))
	expectStartError(t, err, ExitDataDir, want)
	if err := l.release(); err != nil {
		t.Fatal(err)
	}
	l, err = lockDataDir(dir)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l.release()
}

func TestLockDataDirNotADirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := lockDataDir(file)
	expectStartError(t, err, ExitDataDir, "data dir "+file+": not a directory")
}

func expectStartError(t *testing.T, err error, code int, msg string) {
	t.Helper()
	var se *startError
	if !errors.As(err, &se) || se.code != code || err.Error() != msg {
		t.Fatalf("err = %v (%T), want exit %d and %q", err, err, code, msg)
	}
}

// startConfig is a broker on dir with the given listeners.
func startConfig(t *testing.T, dir, listen, admin string) Config {
	t.Helper()
	cfg := DefaultConfig()
	for k, v := range map[string]string{"broker.data_dir": dir, "broker.listen": listen, "broker.admin_listen": admin} {
		if err := cfg.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A failed start reports its cause and undoes what it had done: the admin
// port, the data directory's lock and its logs, closed cleanly.
func TestFailedStartCleansUp(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0") // no SO_REUSEPORT: not shareable
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name          string
		listen, admin string
		storageOpened bool // the failure comes after the admin listener and the logs opened
		want          string
	}{
		{"admin port in use", "127.0.0.1:0", held.Addr().String(), false, "admin listen " + held.Addr().String() + ": address already in use"},
		{"kafka port in use", held.Addr().String(), testport.Addr(t), true, "listen " + held.Addr().String() + ": address already in use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := startConfig(t, dir, tc.listen, tc.admin)
			b, err := start(context.Background(), cfg, log, newRateLimitHandler(slog.DiscardHandler, 1, time.Second, realClock{}))
			if err == nil {
				b.stop(time.Minute)
				t.Skip("netio.Listen shares a port held without SO_REUSEPORT; needs netio's exclusive bind")
			}
			expectStartError(t, err, ExitListen, tc.want)
			l, err := lockDataDir(dir)
			if err != nil {
				t.Fatalf("lock not released: %v", err)
			}
			l.release()
			if tc.storageOpened {
				if _, err := os.Stat(filepath.Join(dir, ".kafka_cleanshutdown")); err != nil {
					t.Errorf("data dir not closed cleanly: %v", err)
				}
				ln, err := net.Listen("tcp", tc.admin)
				if err != nil {
					t.Fatalf("admin listener not closed: %v", err)
				}
				ln.Close()
			}
		})
	}
}

// A voter whose cluster listener cannot bind stops at start with
// ExitListen, naming the listener, and releases the data directory.
func TestClusterListenInUse(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	_, port, _ := net.SplitHostPort(held.Addr().String())
	dir := t.TempDir()
	cfg := startConfig(t, dir, "127.0.0.1:0", testport.Addr(t))
	cfg.Cluster.Voters, cfg.Cluster.Listen = "1@"+held.Addr().String()+",2@127.0.0.1:1,3@127.0.0.1:2", "127.0.0.1:"+port
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := start(context.Background(), cfg, slog.New(slog.DiscardHandler), newRateLimitHandler(slog.DiscardHandler, 1, time.Second, realClock{}))
	if err == nil {
		b.stop(time.Minute)
		t.Fatal("started with the cluster port in use")
	}
	expectStartError(t, err, ExitListen, "cluster listen "+held.Addr().String()+": address already in use")
	l, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock not released: %v", err)
	}
	l.release()
}

func TestVersionNamesGoVersion(t *testing.T) {
	v := Version()
	if !strings.HasPrefix(v, "riffle ") || !strings.Contains(v, "(commit ") || !strings.HasSuffix(v, ", "+readBuildInfo().goVersion+")") {
		t.Errorf("Version() = %q", v)
	}
}

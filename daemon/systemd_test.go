package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riffle/riffle/netio"
)

// handlerFunc adapts a function to netio.Handler.
type handlerFunc func(ctx context.Context, frame []byte) ([]netio.Piece, error)

func (f handlerFunc) ServeFrame(ctx context.Context, _ *netio.Conn, frame []byte) ([]netio.Piece, error) {
	return f(ctx, frame)
}

// echoCorrelation answers every request with a bare response header.
func echoCorrelation(_ context.Context, frame []byte) ([]netio.Piece, error) {
	return []netio.Piece{{Bytes: append([]byte(nil), frame[4:8]...)}}, nil
}

// wedged never answers, as a stuck handler or event loop would not.
func wedged(ctx context.Context, _ []byte) ([]netio.Piece, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func listenForProbe(t *testing.T, h handlerFunc) *netio.Server {
	t.Helper()
	srv, err := netio.Listen(netio.Config{Addr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return srv
}

// healthyLogs stands for a data dir whose logs all take appends.
func healthyLogs() error { return nil }

func probeOnce(p *healthProbe, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return p.check(ctx)
}

func TestHealthProbe(t *testing.T) {
	dir := t.TempDir()
	p := &healthProbe{server: listenForProbe(t, echoCorrelation), dataDir: dir, logsFailed: healthyLogs}
	if err := probeOnce(p, 10*time.Second); err != nil {
		t.Fatalf("healthy broker: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, probeFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("probe file left behind: %v", err)
	}

	p = &healthProbe{server: listenForProbe(t, wedged), dataDir: dir, logsFailed: healthyLogs}
	if err := probeOnce(p, 200*time.Millisecond); err == nil || !strings.Contains(err.Error(), "kafka listener") {
		t.Errorf("wedged handler: got %v, want a kafka listener error", err)
	}

	p = &healthProbe{server: listenForProbe(t, echoCorrelation), dataDir: filepath.Join(dir, "absent"), logsFailed: healthyLogs}
	if err := probeOnce(p, 10*time.Second); err == nil || !strings.Contains(err.Error(), "data dir probe") {
		t.Errorf("missing data dir: got %v, want a data dir probe error", err)
	}

	errFailedLog := errors.New("log t-0: fdatasync: EIO")
	p = &healthProbe{server: listenForProbe(t, echoCorrelation), dataDir: dir, logsFailed: func() error { return errFailedLog }}
	if err := probeOnce(p, 10*time.Second); !errors.Is(err, errFailedLog) {
		t.Errorf("a failed log: got %v, want it reported", err)
	}
}

// TestHealthProbeHungDisk checks a disk probe that outlives its check is
// reported on every check until it finishes, without starting another.
func TestHealthProbeHungDisk(t *testing.T) {
	p := &healthProbe{dataDir: t.TempDir(), logsFailed: healthyLogs}
	release := make(chan error)
	p.diskPending, p.diskSince = release, time.Now()
	for range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := p.dataDirWritable(ctx); err == nil || !strings.Contains(err.Error(), "unfinished") {
			t.Fatalf("hung probe: got %v", err)
		}
	}
	go func() { release <- nil }()
	if err := p.dataDirWritable(context.Background()); err != nil {
		t.Fatalf("finished probe: %v", err)
	}
	if p.diskPending != nil {
		t.Fatal("finished probe still pending")
	}
}

func TestLoopbackFor(t *testing.T) {
	for addr, want := range map[string]string{
		"0.0.0.0:9092":  "127.0.0.1:9092",
		"[::]:9092":     "[::1]:9092",
		"10.1.2.3:9092": "10.1.2.3:9092",
		"[::1]:9092":    "[::1]:9092",
	} {
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := loopbackFor(tcp); got != want {
			t.Errorf("loopbackFor(%s) = %s, want %s", addr, got, want)
		}
	}
}

package netio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// handlerFunc adapts a function to Handler.
type handlerFunc func(ctx context.Context, c *Conn, frame []byte) ([]Piece, error)

func (f handlerFunc) ServeFrame(ctx context.Context, c *Conn, frame []byte) ([]Piece, error) {
	return f(ctx, c, frame)
}

// echo answers each frame with "re:" and the frame.
var echo = handlerFunc(func(_ context.Context, _ *Conn, frame []byte) ([]Piece, error) {
	return []Piece{{Bytes: []byte("re:")}, {Bytes: bytes.Clone(frame)}}, nil
})

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func startServer(t testing.TB, cfg Config, h Handler) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.EventLoops == 0 {
		cfg.EventLoops = 2
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	s, err := Listen(cfg, h)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// dial connects to s; rcvBuf > 0 sets SO_RCVBUF before the handshake.
func dial(t testing.TB, s *Server, rcvBuf int) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if rcvBuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	c, err := d.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func frameBytes(payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
	return append(b, payload...)
}

func sendFrame(t testing.TB, c net.Conn, payload []byte) {
	t.Helper()
	if _, err := c.Write(frameBytes(payload)); err != nil {
		t.Fatalf("write frame: %v", err)
	}
}

// recvFrame reads one size-prefixed frame.
func recvFrame(c net.Conn) ([]byte, error) {
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		return nil, err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, fmt.Errorf("read size: %w", err)
	}
	b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(c, b); err != nil {
		return nil, fmt.Errorf("read %d-byte frame: %w", len(b), err)
	}
	return b, nil
}

func mustRecv(t testing.TB, c net.Conn) []byte {
	t.Helper()
	b, err := recvFrame(c)
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	return b
}

func roundTrip(t testing.TB, c net.Conn, payload string) {
	t.Helper()
	sendFrame(t, c, []byte(payload))
	if got, want := string(mustRecv(t, c)), "re:"+payload; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// expectClosed asserts the server closes c: a read ends in EOF or reset.
func expectClosed(t testing.TB, c net.Conn) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if err != nil && (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("connection not closed by the server: %v", err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// tempFile writes n pseudo-random bytes to a file in t.TempDir.
func tempFile(t testing.TB, n int) (*os.File, []byte) {
	t.Helper()
	data := make([]byte, n)
	var x uint64 = 0x9e3779b97f4a7c15
	for i := range data {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		data[i] = byte(x)
	}
	path := filepath.Join(t.TempDir(), "segment.log")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, data
}

// releaseCounter hands out Release funcs and counts their calls.
type releaseCounter struct{ calls []atomic.Int32 }

func newReleaseCounter(n int) *releaseCounter { return &releaseCounter{calls: make([]atomic.Int32, n)} }

func (r *releaseCounter) fn(i int) func() { return func() { r.calls[i].Add(1) } }

func (r *releaseCounter) allOnce() bool {
	for i := range r.calls {
		if r.calls[i].Load() != 1 {
			return false
		}
	}
	return true
}

func (r *releaseCounter) check(t testing.TB) {
	t.Helper()
	for i := range r.calls {
		if n := r.calls[i].Load(); n != 1 {
			t.Errorf("piece %d released %d times, want 1", i, n)
		}
	}
}

package netio

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/riffle/riffle/internal/tlstest"
)

func tlsServerConfig(t *testing.T) (*tls.Config, *tlstest.CA) {
	ca := tlstest.NewCA(t)
	cert := ca.Server(t, "server").TLSCertificate(t)
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: ca.Pool(),
		ClientAuth: tls.VerifyClientCertIfGiven}, ca
}

func dialTLS(t *testing.T, s *Server, cfg *tls.Config) *tls.Conn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.Addr().String(), cfg)
	if err != nil {
		t.Fatalf("tls dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestTLSRegionsCopied: over TLS, byte and file-region pieces arrive
// exactly, regions are copied (never sendfile'd), pieces are released, and
// the client certificate reaches the handler.
func TestTLSRegionsCopied(t *testing.T) {
	f, data := tempFile(t, 4<<20)
	pieces := []Piece{
		{Bytes: []byte("header")},
		{File: f, Offset: 7, Length: 100},
		{File: f, Offset: 1000, Length: 1<<20 + 3},
		{Bytes: []byte("between")},
		{File: f, Offset: 4<<20 - 10, Length: 10},
	}
	rc := newReleaseCounter(len(pieces))
	for i := range pieces {
		pieces[i].Release = rc.fn(i)
	}
	srvCfg, ca := tlsServerConfig(t)
	var peer string
	s := startServer(t, Config{TLS: srvCfg, Name: "SSL"}, handlerFunc(func(_ context.Context, c *Conn, _ []byte) ([]Piece, error) {
		if c.TLS != nil && len(c.TLS.PeerCertificates) > 0 && c.Listener == "SSL" {
			peer = c.TLS.PeerCertificates[0].Subject.String()
		}
		return pieces, nil
	}))
	client := ca.Client(t, "client", "alice").TLSCertificate(t)
	c := dialTLS(t, s, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", Certificates: []tls.Certificate{client}})
	sendFrame(t, c, []byte("fetch"))
	got := mustRecv(t, c)
	if want := expectedBytes(pieces, data); !bytes.Equal(got, want) {
		t.Fatalf("response differs: got %d bytes, want %d", len(got), len(want))
	}
	if want := "CN=alice,OU=riffle-test"; peer != want {
		t.Errorf("peer = %q, want %q", peer, want)
	}
	waitFor(t, "pieces released", rc.allOnce)
	rc.check(t)
	st := s.Stats()
	if st.BytesSendfile != 0 {
		t.Errorf("BytesSendfile = %d over TLS, want 0", st.BytesSendfile)
	}
	if want := int64(100 + 1<<20 + 3 + 10); st.BytesCopied != want {
		t.Errorf("BytesCopied = %d, want %d", st.BytesCopied, want)
	}
	if st.Connections != 1 {
		t.Errorf("Connections = %d, want 1", st.Connections)
	}
}

// TestTLSFrameLimitsAndShutdown: frames over MaxRequestBytes close the
// connection; Shutdown closes idle TLS connections.
func TestTLSFrameLimitsAndShutdown(t *testing.T) {
	srvCfg, ca := tlsServerConfig(t)
	s := startServer(t, Config{TLS: srvCfg, MaxRequestBytes: 1024}, echo)
	cli := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	c := dialTLS(t, s, cli)
	roundTrip(t, c, "hello")
	sendFrame(t, c, make([]byte, 2000))
	expectClosed(t, c)

	idle := dialTLS(t, s, cli)
	roundTrip(t, idle, "still here")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	expectClosed(t, idle)
}

// TestTLSClientOnPlaintextListener: a TLS client hello on a plaintext
// listener is answered with a TLS alert and the connection closed, not
// read as a 369 MB frame; the client sees a TLS error at once.
func TestTLSClientOnPlaintextListener(t *testing.T) {
	ca := tlstest.NewCA(t)
	s := startServer(t, Config{MaxRequestBytes: 1 << 30}, echo)
	raw := dial(t, s, 0)
	c := tls.Client(raw, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.HandshakeContext(ctx)
	if err == nil || !strings.Contains(err.Error(), "remote error: tls: handshake failure") {
		t.Fatalf("handshake error = %v, want the server's handshake_failure alert", err)
	}
	if st := s.Stats(); st.RequestBytes != 0 {
		t.Errorf("RequestBytes = %d after the hello, want 0", st.RequestBytes)
	}
	// The plaintext protocol still works on the listener.
	roundTrip(t, dial(t, s, 0), "plain")
	_, _ = io.Copy(io.Discard, raw)
}

// TestCloseAfterResponse: a handler error wrapping ErrCloseAfterResponse
// sends its response, then closes, on plaintext and TLS listeners.
func TestCloseAfterResponse(t *testing.T) {
	h := handlerFunc(func(_ context.Context, _ *Conn, frame []byte) ([]Piece, error) {
		if string(frame) == "bye" {
			return []Piece{{Bytes: []byte("denied")}}, fmt.Errorf("auth failed: %w", ErrCloseAfterResponse)
		}
		return echo(context.Background(), nil, frame)
	})
	srvCfg, ca := tlsServerConfig(t)
	for _, cfg := range []Config{{}, {TLS: srvCfg}} {
		s := startServer(t, cfg, h)
		var c net.Conn
		if cfg.TLS != nil {
			c = dialTLS(t, s, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
		} else {
			c = dial(t, s, 0)
		}
		roundTrip(t, c, "hi")
		sendFrame(t, c, []byte("bye"))
		if got := string(mustRecv(t, c)); got != "denied" {
			t.Fatalf("tls=%v: got %q", cfg.TLS != nil, got)
		}
		expectClosed(t, c)
		waitFor(t, "connection gone", func() bool { return s.Stats().Connections == 0 })
	}
}

package auth

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/riffle/riffle/internal/tlstest"
)

// mutualServer accepts TLS connections with src.MutualConfig and echoes
// one byte per connection; handshake errors go to errs.
func mutualServer(t *testing.T, src *TLSSource) (addr string, errs chan error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", src.MutualConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	errs = make(chan error, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if err := c.(*tls.Conn).Handshake(); err != nil {
					errs <- err
					return
				}
				var b [1]byte
				if _, err := io.ReadFull(c, b[:]); err == nil {
					c.Write(b[:])
				}
			}()
		}
	}()
	return ln.Addr().String(), errs
}

func nodeSource(t *testing.T, ca *tlstest.CA, name string) *TLSSource {
	t.Helper()
	p := ca.Node(t, name, name)
	src, err := NewTLSSource(TLSFiles{CertFile: p.CertFile, KeyFile: p.KeyFile, CAFile: ca.CAFile, ClientAuth: "none"}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestPeerDialerMutualTLS: two nodes of one CA connect with mutual TLS
// (the listener's ssl_client_auth "none" does not matter to
// MutualConfig); a node of another CA is refused by both sides' checks;
// a dialer without TLS fails against the TLS listener instead of hanging.
func TestPeerDialerMutualTLS(t *testing.T) {
	ca := tlstest.NewCA(t)
	addr, serverErrs := mutualServer(t, nodeSource(t, ca, "server"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	c, err := PeerDialer{TLS: nodeSource(t, ca, "client"), Timeout: 5 * time.Second}.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial a node of the same CA: %v", err)
	}
	if _, err := c.Write([]byte{7}); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != 7 {
		t.Fatalf("echo over mutual TLS: %v %v", b, err)
	}
	c.Close()

	other := tlstest.NewCA(t)
	if _, err := (PeerDialer{TLS: nodeSource(t, other, "stranger"), Timeout: 5 * time.Second}).Dial(ctx, "tcp", addr); err == nil ||
		!strings.Contains(err.Error(), "tls handshake with "+addr) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("dial with another CA: %v", err)
	}
	select { // the server hears of the client's refusal
	case <-serverErrs:
	case <-ctx.Done():
		t.Fatal("the server saw no failed handshake")
	}
	// A client that trusts the server but has a certificate of another
	// CA: the server refuses it.
	stranger := nodeSource(t, other, "stranger2")
	cfg := stranger.ClientConfig("127.0.0.1")
	cfg.RootCAs = ca.Pool()
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err == nil {
		// TLS 1.3: the client's handshake ends before the server checks.
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadFull(tc, b[:])
		tc.Close()
	}
	if err == nil {
		t.Fatal("a client certificate of another CA was accepted")
	}
	select {
	case err := <-serverErrs:
		if !strings.Contains(err.Error(), "unknown authority") {
			t.Fatalf("server's handshake error: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the server did not report the bad client certificate")
	}
}

package auth

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// PeerDialer dials other nodes' listeners as this node: plain TCP, or TLS
// with the node's own certificate when TLS is set.
type PeerDialer struct {
	// TLS, when set, wraps every connection (TLSSource.ClientConfig, for
	// the dialed host); nil dials plaintext.
	TLS *TLSSource
	// Timeout bounds the TCP connect and the TLS handshake together.
	Timeout time.Duration
}

// Dial connects to addr (host:port) and, with TLS, completes the handshake
// before returning, so that a certificate problem is the error here and
// not a later read's. Its signature is kgo.Dialer's.
func (d PeerDialer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil || d.TLS == nil {
		return c, err
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	tc := tls.Client(c, d.TLS.ClientConfig(host))
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
	}
	return tc, nil
}

// ClientMechanism is the client side of a SASL mechanism, by its name:
// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
func ClientMechanism(name, user, password string) (sasl.Mechanism, error) {
	switch name {
	case "SCRAM-SHA-512":
		return scram.Auth{User: user, Pass: password}.AsSha512Mechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: password}.AsSha256Mechanism(), nil
	case "PLAIN":
		return plain.Auth{User: user, Pass: password}.AsMechanism(), nil
	}
	return nil, fmt.Errorf("SASL mechanism %q: want SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN", name)
}

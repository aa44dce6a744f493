package kafka

import (
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon/auth"
	"github.com/riffle/riffle/kafkawire"
	"github.com/riffle/riffle/netio"
	"github.com/riffle/riffle/quorum"
)

// Anonymous is the principal of a client that has not authenticated
// (PLAINTEXT, or SSL without a client certificate).
const Anonymous = "User:ANONYMOUS"

// session is a connection's authentication state (netio.Conn.Session).
//
// On a SASL listener: new -> SaslHandshake (mechanism chosen, exchange
// started; v0 makes the following frames raw SASL tokens) -> SaslAuthenticate
// ... -> authenticated. Before that only ApiVersions and the SASL requests
// are served. With connections.max.reauth.ms the session expires: the
// client re-authenticates on the same connection (KIP-368: handshake v1+,
// same mechanism and principal), and any other request after expiry
// closes the connection.
type session struct {
	principal     string
	authenticated bool
	mechanism     string
	exchange      auth.Exchange // between handshake and success
	raw           bool          // SaslHandshake v0: the next frames are raw tokens
	expires       time.Time     // zero: never
}

// sessionOf returns the connection's session, creating it: the principal
// is the client certificate's on an SSL listener, else ANONYMOUS until SASL
// authenticates one.
func (b *Broker) sessionOf(c *netio.Conn) *session {
	if s, ok := c.Session.(*session); ok {
		return s
	}
	s := &session{principal: Anonymous}
	if p := b.listenerProtocol(c.Listener); p == auth.SSL {
		if cp := auth.CertPrincipal(c.TLS); cp != "" {
			s.principal = cp
		}
		s.authenticated = true
	} else if !p.SASL() {
		s.authenticated = true
	}
	c.Session = s
	return s
}

// admitRequest is the gate of a SASL listener: before authentication, and
// after the session expired, only ApiVersions and the SASL requests pass;
// anything else closes the connection.
func (b *Broker) admitRequest(c *netio.Conn, h kafkawire.RequestHeader) error {
	if !b.listenerProtocol(c.Listener).SASL() {
		return nil
	}
	switch h.APIKey {
	case kafkawire.APIVersionsKey, saslHandshakeKey, saslAuthenticateKey:
		return nil
	}
	s := b.sessionOf(c)
	if !s.authenticated {
		return fmt.Errorf("%s before SASL authentication on listener %s from %q", kmsg.NameForKey(h.APIKey), c.Listener, h.ClientID)
	}
	if !s.expires.IsZero() && b.cfg.Now().After(s.expires) {
		return fmt.Errorf("SASL session of %s expired (connections.max.reauth.ms) before %s", s.principal, kmsg.NameForKey(h.APIKey))
	}
	return nil
}

const (
	saslHandshakeKey    = 17
	saslAuthenticateKey = 36
)

// credentials looks SCRAM credentials up in the current metadata image.
func (b *Broker) credentials(user string, m quorum.ScramMechanism) (quorum.ScramCredential, bool) {
	return b.ctrl.Image().Security.ScramCredential(user, m)
}

// startExchange begins authentication with mechanism after a handshake.
// It returns the error code to answer: UNSUPPORTED_SASL_MECHANISM for a
// mechanism not enabled, ILLEGAL_SASL_STATE for a handshake out of turn or
// a re-authentication that changes mechanism or uses v0 framing.
func (b *Broker) startExchange(c *netio.Conn, mechanism string, version int16) (*kerr.Error, error) {
	s := b.sessionOf(c)
	switch {
	case !b.listenerProtocol(c.Listener).SASL():
		return kerr.IllegalSaslState, nil // answered; the connection stays
	case s.exchange != nil:
		return kerr.IllegalSaslState, fmt.Errorf("SaslHandshake during an authentication")
	case !slices.Contains(b.cfg.SASLMechanisms, mechanism):
		return kerr.UnsupportedSaslMechanism, fmt.Errorf("SASL mechanism %q not enabled", mechanism)
	case s.authenticated && (version < 1 || mechanism != s.mechanism):
		return kerr.IllegalSaslState, fmt.Errorf("re-authentication of %s with %s v%d, authenticated with %s", s.principal, mechanism, version, s.mechanism)
	}
	x, err := auth.NewExchange(mechanism, b.credentials)
	if err != nil {
		return kerr.UnsupportedSaslMechanism, err
	}
	s.exchange, s.mechanism, s.raw = x, mechanism, version == 0
	return nil, nil
}

// stepExchange passes one client token to the exchange; on success the
// session is authenticated for connections.max.reauth.ms (its lifetime
// returned, 0: unlimited). Every error fails the authentication.
func (b *Broker) stepExchange(c *netio.Conn, token []byte) (out []byte, lifetimeMs int64, err error) {
	s := b.sessionOf(c)
	if s.exchange == nil {
		return nil, 0, fmt.Errorf("%w: SaslAuthenticate without a SaslHandshake", errIllegalSASLState)
	}
	out, done, err := s.exchange.Step(token)
	if err != nil {
		s.exchange = nil
		b.log.Info("sasl: authentication failed", "remote", c.RemoteAddr, "listener", c.Listener, "mechanism", s.mechanism, "err", err)
		return nil, 0, err
	}
	if !done {
		return out, 0, nil
	}
	principal := s.exchange.Principal()
	s.exchange = nil
	if s.authenticated && principal != s.principal {
		return nil, 0, fmt.Errorf("%w: re-authentication as %s on a connection of %s", auth.ErrAuthFailed, principal, s.principal)
	}
	s.principal, s.authenticated, s.raw = principal, true, false
	if ms := b.cfg.ReauthMs; ms > 0 {
		s.expires = b.cfg.Now().Add(time.Duration(ms) * time.Millisecond)
		lifetimeMs = ms
	}
	b.log.Debug("sasl: authenticated", "remote", c.RemoteAddr, "principal", principal, "mechanism", s.mechanism)
	return out, lifetimeMs, nil
}

// serveRawSASL serves a frame after SaslHandshake v0: a bare SASL token,
// answered by a bare token; a failure closes the connection unanswered,
// as Kafka does with this framing.
func (b *Broker) serveRawSASL(c *netio.Conn, frame []byte) ([]netio.Piece, error) {
	out, _, err := b.stepExchange(c, frame)
	if err != nil {
		return nil, fmt.Errorf("sasl: %w", err)
	}
	return []netio.Piece{{Bytes: out}}, nil
}

package kafka

// SaslAuthenticate v0-2: one SASL token each way; v1+ answers the session
// lifetime (KIP-368, connections.max.reauth.ms).

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/netio"
)

func init() {
	register(&api{key: saslAuthenticateKey, minVersion: 0, maxVersion: 2, serve: serveSaslAuthenticate})
}

// errIllegalSASLState: a SASL request out of turn.
var errIllegalSASLState = errors.New("illegal SASL state")

func serveSaslAuthenticate(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	if s := b.sessionOf(r.conn); s.raw {
		// The v0 handshake promised bare tokens.
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, fmt.Errorf("SaslAuthenticate after a v0 SaslHandshake: %w", netio.ErrCloseAfterResponse)
	}
	out, lifetimeMs, err := b.stepExchange(r.conn, req.SASLAuthBytes)
	if err != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := fmt.Sprintf("Authentication failed during authentication due to invalid credentials with SASL mechanism %s", b.sessionOf(r.conn).mechanism)
		if errors.Is(err, errIllegalSASLState) {
			resp.ErrorCode, msg = kerr.IllegalSaslState.Code, err.Error()
		}
		resp.ErrorMessage = &msg
		return resp, fmt.Errorf("sasl: %v: %w", err, netio.ErrCloseAfterResponse)
	}
	resp.SASLAuthBytes, resp.SessionLifetimeMillis = out, lifetimeMs
	return resp, nil
}

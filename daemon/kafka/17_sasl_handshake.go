package kafka

// SaslHandshake v0-1: the client picks a mechanism. v0 makes the frames
// that follow bare SASL tokens; v1 has them wrapped in SaslAuthenticate.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/netio"
)

func init() {
	register(&api{key: saslHandshakeKey, minVersion: 0, maxVersion: 1, serve: serveSaslHandshake})
}

func serveSaslHandshake(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = b.cfg.SASLMechanisms
	code, err := b.startExchange(r.conn, req.Mechanism, req.Version)
	if code != nil {
		resp.ErrorCode = code.Code
	}
	if err != nil {
		b.log.Info("sasl: handshake refused", "remote", r.conn.RemoteAddr, "mechanism", req.Mechanism, "err", err)
		return resp, fmt.Errorf("sasl handshake: %v: %w", err, netio.ErrCloseAfterResponse)
	}
	return resp, nil
}

package replicas

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/riffle/riffle/kafkawire"
)

// dialTimeout bounds a connection attempt to a leader, TLS handshake
// and SASL authentication included.
const dialTimeout = 10 * time.Second

// Dialer connects to another broker's inter-broker listener
// (auth.PeerDialer.Dial: plain TCP or TLS).
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// leaderConn is a follower's connection to a leader's Kafka listener,
// carrying one request at a time. The bytes fields of a response (a
// Fetch's records) point into the connection's buffer: they are valid until
// the next call.
type leaderConn struct {
	c         net.Conn
	formatter *kmsg.RequestFormatter
	corrID    int32
	out       []byte
	frame     bytes.Buffer
	maxBytes  int
	// mech authenticates the connection (nil: none); reauthAt is when the
	// SASL session must be renewed (zero: it does not expire).
	mech     sasl.Mechanism
	host     string
	reauthAt time.Time
}

// dialLeader connects with dial and, with mech, authenticates. A nil dial
// is plain TCP.
func dialLeader(ctx context.Context, dial Dialer, mech sasl.Mechanism, host string, port int32, clientID string, maxBytes int) (*leaderConn, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
	if dial == nil {
		dial = (&net.Dialer{Timeout: dialTimeout}).DialContext
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	lc := &leaderConn{c: c, formatter: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)), maxBytes: maxBytes,
		mech: mech, host: host}
	if mech != nil {
		if err := lc.authenticate(ctx); err != nil {
			c.Close()
			return nil, err
		}
	}
	return lc, nil
}

// authenticate runs SaslHandshake v1 and the SaslAuthenticate exchanges of
// c.mech, and notes when the session must be renewed.
func (c *leaderConn) authenticate(ctx context.Context) error {
	name := c.mech.Name()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = name
	resp, err := c.roundTrip(ctx, hs, dialTimeout)
	if err != nil {
		return fmt.Errorf("sasl %s: %w", name, err)
	}
	if err := kerr.ErrorForCode(resp.(*kmsg.SASLHandshakeResponse).ErrorCode); err != nil {
		return fmt.Errorf("sasl handshake %s: %w", name, err)
	}
	session, out, err := c.mech.Authenticate(ctx, c.host)
	if err != nil {
		return fmt.Errorf("sasl %s: %w", name, err)
	}
	for {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.SetVersion(1)
		req.SASLAuthBytes = out
		r, err := c.roundTrip(ctx, req, dialTimeout)
		if err != nil {
			return fmt.Errorf("sasl %s: %w", name, err)
		}
		ar := r.(*kmsg.SASLAuthenticateResponse)
		if err := kerr.ErrorForCode(ar.ErrorCode); err != nil {
			msg := ""
			if ar.ErrorMessage != nil {
				msg = ": " + *ar.ErrorMessage
			}
			return fmt.Errorf("sasl %s authentication%s: %w", name, msg, err)
		}
		done, next, err := session.Challenge(ar.SASLAuthBytes)
		if err != nil {
			return fmt.Errorf("sasl %s: %w", name, err)
		}
		if done {
			c.reauthAt = time.Time{}
			// Renewed at 80% of the session's lifetime (KIP-368), so that
			// the leader never closes the connection for an expired one.
			if ms := ar.SessionLifetimeMillis; ms > 0 {
				c.reauthAt = time.Now().Add(time.Duration(ms) * time.Millisecond * 8 / 10)
			}
			return nil
		}
		out = next
	}
}

// call sends req and reads its response, within timeout or until ctx ends,
// renewing the SASL session first when it is about to end. After an error
// the connection is unusable.
func (c *leaderConn) call(ctx context.Context, req kmsg.Request, timeout time.Duration) (kmsg.Response, error) {
	if !c.reauthAt.IsZero() && time.Now().After(c.reauthAt) {
		if err := c.authenticate(ctx); err != nil {
			return nil, fmt.Errorf("re-authenticate: %w", err)
		}
	}
	return c.roundTrip(ctx, req, timeout)
}

// roundTrip sends req and reads its response, within timeout or until ctx
// ends.
func (c *leaderConn) roundTrip(ctx context.Context, req kmsg.Request, timeout time.Duration) (kmsg.Response, error) {
	name := kmsg.NameForKey(req.Key())
	c.corrID++
	c.out = c.formatter.AppendRequest(c.out[:0], req, c.corrID)
	if err := c.c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := c.c.Write(c.out); err != nil {
		return nil, fmt.Errorf("write %s: %w", name, err)
	}
	if err := kafkawire.ReadFrame(c.c, &c.frame, c.maxBytes); err != nil {
		return nil, fmt.Errorf("read %s response: %w", name, err)
	}
	return kafkawire.DecodeResponse(req, c.corrID, c.frame.Bytes())
}

func (c *leaderConn) close() { c.c.Close() }

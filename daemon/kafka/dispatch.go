package kafka

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/kafkawire"
	"github.com/riffle/riffle/netio"
)

// errMalformed marks client input that cannot be parsed; the connection is closed.
var errMalformed = kafkawire.ErrMalformed

// request is one decoded request on its way through a handler.
type request struct {
	ctx    context.Context
	conn   *netio.Conn
	header kafkawire.RequestHeader
	body   kmsg.Request // version set, decoded
	// parked is the time the handler spent waiting in a purgatory
	// (long-poll Fetch, acks=all Produce), which request quotas leave out.
	parked time.Duration
}

// api is one served API key: the versions served (and advertised) and its
// handler. Exactly one of serve and servePieces is set.
type api struct {
	key        int16
	minVersion int16
	maxVersion int16
	// serve answers with a kmsg response, or nil to send nothing (acks=0).
	serve func(b *Broker, r *request) (kmsg.Response, error)
	// servePieces answers with a hand-encoded response body (Fetch).
	servePieces func(b *Broker, r *request) ([]netio.Piece, error)
}

// apis holds every served API key, filled by each API file's init.
var apis = map[int16]*api{}

func register(a *api) {
	if _, dup := apis[a.key]; dup || (a.serve == nil) == (a.servePieces == nil) {
		panic(fmt.Sprintf("kafka: bad registration of api key %d", a.key))
	}
	apis[a.key] = a
}

// ServeFrame implements netio.Handler: it decodes one request frame, runs
// its handler and encodes the response. An error closes the connection.
func (b *Broker) ServeFrame(ctx context.Context, c *netio.Conn, frame []byte) (pieces []netio.Piece, err error) {
	start := time.Now()
	defer func() {
		// A handler bug must not take the broker down with every other
		// client; the connection that hit it is closed.
		if p := recover(); p != nil {
			b.log.Error("kafka: handler panic", "panic", p, "remote", c.RemoteAddr, "stack", string(debug.Stack()))
			pieces, err = nil, fmt.Errorf("kafka: handler panic: %v", p)
		}
	}()
	if s, ok := c.Session.(*session); ok && s.raw {
		return b.serveRawSASL(c, frame)
	}
	h, rest, err := kafkawire.ParseRequestHeaderPrefix(frame)
	if err != nil {
		return nil, err
	}
	if err := b.admitRequest(c, h); err != nil {
		return nil, err
	}
	a := apis[h.APIKey]
	if a == nil {
		if pieces := answerUnserved(h); pieces != nil {
			return pieces, nil
		}
		return nil, fmt.Errorf("%w: unknown api key %d from %q", errMalformed, h.APIKey, h.ClientID)
	}
	if b.cfg.Observer != nil {
		defer b.observeRequest(h.APIKey, c.Queued, start)
	}
	if h.APIVersion < a.minVersion || h.APIVersion > a.maxVersion {
		if h.APIKey == kafkawire.APIVersionsKey {
			return b.encodeResponse(h, unsupportedAPIVersions()), nil
		}
		return nil, fmt.Errorf("%w: %s v%d not supported (serving v%d-%d) from %q",
			errMalformed, kmsg.NameForKey(h.APIKey), h.APIVersion, a.minVersion, a.maxVersion, h.ClientID)
	}
	body, err := kafkawire.DecodeRequestBody(h, rest)
	if err != nil {
		return nil, err
	}
	r := &request{ctx: ctx, conn: c, header: h, body: body}
	after, early, err := b.authorizeRequest(r)
	if err != nil || early != nil {
		return early, err
	}
	if a.servePieces != nil {
		bodyPieces, err := a.servePieces(b, r)
		if err != nil {
			return nil, err
		}
		if d := b.throttleRequest(r, int64(len(frame)), piecesLen(bodyPieces), time.Since(start)); d > 0 {
			setFetchThrottle(bodyPieces, throttleMillis(d))
			muteFor(r, &kmsg.FetchResponse{Version: h.APIVersion}, d)
		}
		hdr := kafkawire.AppendResponseHeader(nil, h, body.IsFlexible())
		return append([]netio.Piece{{Bytes: hdr}}, bodyPieces...), nil
	}
	resp, err := a.serve(b, r)
	if resp != nil && after != nil {
		after(resp)
	}
	if resp != nil && errors.Is(err, netio.ErrCloseAfterResponse) {
		resp.SetVersion(h.APIVersion)
		return b.encodeResponse(h, resp), err
	}
	if err != nil {
		return nil, err
	}
	d := b.throttleRequest(r, int64(len(frame)), 0, time.Since(start))
	if resp == nil { // acks=0: nothing to carry the throttle time
		c.Mute(d, false)
		return nil, nil
	}
	resp.SetVersion(h.APIVersion)
	muteFor(r, resp, d)
	return b.encodeResponse(h, resp), nil
}

func piecesLen(pieces []netio.Piece) int64 {
	var n int64
	for _, p := range pieces {
		n += p.Len()
	}
	return n
}

// encodeResponse encodes a kmsg response with its header as one piece,
// and reports its error codes.
func (b *Broker) encodeResponse(h kafkawire.RequestHeader, resp kmsg.Response) []netio.Piece {
	if b.cfg.Observer != nil {
		b.observeErrorCodes(h.APIKey, resp)
	}
	buf := kafkawire.AppendResponseHeader(make([]byte, 0, 256), h, resp.IsFlexible())
	return []netio.Piece{{Bytes: resp.AppendTo(buf)}}
}

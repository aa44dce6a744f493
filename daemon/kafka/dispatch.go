package kafka

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon/kafka/wirecheck"
	"github.com/riffle/riffle/netio"
)

// request is one decoded request on its way through a handler.
type request struct {
	ctx    context.Context
	conn   *netio.Conn
	header requestHeader
	body   kmsg.Request // version set, decoded
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
	h, rest, err := parseRequestHeaderPrefix(frame)
	if err != nil {
		return nil, err
	}
	a := apis[h.apiKey]
	if a == nil {
		return nil, fmt.Errorf("%w: unknown api key %d from %q", errMalformed, h.apiKey, h.clientID)
	}
	if b.cfg.Observer != nil {
		defer b.observeRequest(h.apiKey, c.Queued, start)
	}
	if h.apiVersion < a.minVersion || h.apiVersion > a.maxVersion {
		if h.apiKey == apiVersionsKey {
			return b.encodeResponse(h, unsupportedAPIVersions()), nil
		}
		return nil, fmt.Errorf("%w: %s v%d not supported (serving v%d-%d) from %q",
			errMalformed, kmsg.NameForKey(h.apiKey), h.apiVersion, a.minVersion, a.maxVersion, h.clientID)
	}
	body, err := decodeBody(h.apiKey, h.apiVersion, rest)
	if err != nil {
		return nil, err
	}
	r := &request{ctx: ctx, conn: c, header: h, body: body}
	if a.servePieces != nil {
		bodyPieces, err := a.servePieces(b, r)
		if err != nil {
			return nil, err
		}
		hdr := appendResponseHeader(nil, h, body.IsFlexible())
		return append([]netio.Piece{{Bytes: hdr}}, bodyPieces...), nil
	}
	resp, err := a.serve(b, r)
	if err != nil || resp == nil {
		return nil, err
	}
	resp.SetVersion(h.apiVersion)
	return b.encodeResponse(h, resp), nil
}

// decodeBody decodes the rest of a frame after the request header prefix
// of a served API version. The body is walked by its schema first: kmsg's
// decoder loops on tag counts read from the wire without bounding them by
// the bytes left, so a tiny frame could cost it minutes of CPU.
func decodeBody(apiKey, version int16, rest []byte) (kmsg.Request, error) {
	body := kmsg.RequestForKey(apiKey)
	body.SetVersion(version)
	if body.IsFlexible() {
		var err error
		if rest, err = skipHeaderTags(rest); err != nil {
			return nil, err
		}
	}
	if err := wirecheck.Request(apiKey, version, rest); err != nil {
		return nil, fmt.Errorf("%w: %s v%d body: %v", errMalformed, kmsg.NameForKey(apiKey), version, err)
	}
	if err := body.ReadFrom(rest); err != nil {
		return nil, fmt.Errorf("%w: %s v%d body: %v", errMalformed, kmsg.NameForKey(apiKey), version, err)
	}
	return body, nil
}

// encodeResponse encodes a kmsg response with its header as one piece,
// and reports its error codes.
func (b *Broker) encodeResponse(h requestHeader, resp kmsg.Response) []netio.Piece {
	if b.cfg.Observer != nil {
		b.observeErrorCodes(h.apiKey, resp)
	}
	buf := appendResponseHeader(make([]byte, 0, 256), h, resp.IsFlexible())
	return []netio.Piece{{Bytes: resp.AppendTo(buf)}}
}

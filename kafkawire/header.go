// Package kafkawire holds the Kafka request and response headers, shared by
// the Kafka listener (daemon/kafka) and the cluster transport's controller
// calls (quorum), so that both speak the same framing through one decoder.
//
// A request frame (after its 4-byte size) is: api key int16, api version
// int16, correlation id int32, client id nullable string, then, for a
// flexible request (header v2), a tag section; then the body. A response
// frame is the correlation id, for a flexible response other than
// ApiVersions an empty tag section, then the body.
package kafkawire

import (
	"errors"
	"fmt"

	"github.com/riffle/riffle/kafkawire/wirecheck"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrMalformed marks peer input that cannot be parsed; the connection is closed.
var ErrMalformed = errors.New("malformed request")

// RequestHeader is Kafka's request header (v1 classic, v2 flexible).
type RequestHeader struct {
	APIKey        int16
	APIVersion    int16
	CorrelationID int32
	ClientID      string
}

// ParseRequestHeaderPrefix reads the fields common to every header version
// and returns the rest of the frame. Whether tagged fields follow depends on
// the API version (see SkipHeaderTags).
func ParseRequestHeaderPrefix(frame []byte) (RequestHeader, []byte, error) {
	r := kbin.Reader{Src: frame}
	h := RequestHeader{
		APIKey:        r.Int16(),
		APIVersion:    r.Int16(),
		CorrelationID: r.Int32(),
	}
	if id := r.NullableString(); id != nil {
		h.ClientID = *id
	}
	if err := r.Complete(); err != nil {
		return h, nil, fmt.Errorf("%w: request header: %v", ErrMalformed, err)
	}
	return h, r.Src, nil
}

// SkipHeaderTags skips the tagged fields of a flexible (v2) request header.
func SkipHeaderTags(b []byte) ([]byte, error) {
	rest, err := wirecheck.SkipTags(b)
	if err != nil {
		return nil, fmt.Errorf("%w: request header tags: %v", ErrMalformed, err)
	}
	return rest, nil
}

// DecodeRequestBody decodes the rest of a request frame after its header
// prefix: the header's tag section if the request is flexible, then the
// body. The caller has checked that it serves h's key and version. The
// body is walked by its schema first: kmsg's decoder loops on tag counts
// read from the wire without bounding them by the bytes left, so a tiny
// frame could cost it minutes of CPU.
func DecodeRequestBody(h RequestHeader, rest []byte) (kmsg.Request, error) {
	body := kmsg.RequestForKey(h.APIKey)
	if body == nil {
		return nil, fmt.Errorf("%w: unknown api key %d from %q", ErrMalformed, h.APIKey, h.ClientID)
	}
	body.SetVersion(h.APIVersion)
	if body.IsFlexible() {
		var err error
		if rest, err = SkipHeaderTags(rest); err != nil {
			return nil, err
		}
	}
	if err := wirecheck.Request(h.APIKey, h.APIVersion, rest); err != nil {
		return nil, fmt.Errorf("%w: %s v%d body: %v", ErrMalformed, kmsg.NameForKey(h.APIKey), h.APIVersion, err)
	}
	if err := body.ReadFrom(rest); err != nil {
		return nil, fmt.Errorf("%w: %s v%d body: %v", ErrMalformed, kmsg.NameForKey(h.APIKey), h.APIVersion, err)
	}
	return body, nil
}

// APIVersionsKey is the one API whose response header is always v0 (no tag
// byte), so that a client can read it whatever version it asked for.
const APIVersionsKey = 18

// AppendResponseHeader appends the response header: the correlation id and,
// for flexible responses other than ApiVersions, an empty tag section.
func AppendResponseHeader(dst []byte, h RequestHeader, flexible bool) []byte {
	dst = kbin.AppendInt32(dst, h.CorrelationID)
	if flexible && h.APIKey != APIVersionsKey {
		dst = append(dst, 0)
	}
	return dst
}

// DecodeResponse decodes a response frame (without its size) for req: it
// checks the correlation id and skips the header's tag section when the
// response is flexible.
func DecodeResponse(req kmsg.Request, correlationID int32, frame []byte) (kmsg.Response, error) {
	r := kbin.Reader{Src: frame}
	if got := r.Int32(); !r.Ok() || got != correlationID {
		return nil, fmt.Errorf("response correlation id %d, want %d (%d bytes)", got, correlationID, len(frame))
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != APIVersionsKey {
		if tags := r.Uvarint(); !r.Ok() || tags != 0 {
			return nil, fmt.Errorf("%s response: flexible header with %d tags", kmsg.NameForKey(req.Key()), tags)
		}
	}
	if err := resp.ReadFrom(r.Src); err != nil {
		return nil, fmt.Errorf("decode %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	return resp, nil
}

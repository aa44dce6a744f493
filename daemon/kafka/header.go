package kafka

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"

	"github.com/riffle/riffle/daemon/kafka/wirecheck"
)

// errMalformed marks client input that cannot be parsed; the connection is closed.
var errMalformed = errors.New("malformed request")

// requestHeader is Kafka's request header (v1 classic, v2 flexible).
type requestHeader struct {
	apiKey        int16
	apiVersion    int16
	correlationID int32
	clientID      string
}

// parseRequestHeaderPrefix reads the fields common to every header version
// and returns the rest of the frame. Whether tagged fields follow depends on
// the API version (see skipHeaderTags).
func parseRequestHeaderPrefix(frame []byte) (requestHeader, []byte, error) {
	r := kbin.Reader{Src: frame}
	h := requestHeader{
		apiKey:        r.Int16(),
		apiVersion:    r.Int16(),
		correlationID: r.Int32(),
	}
	if id := r.NullableString(); id != nil {
		h.clientID = *id
	}
	if err := r.Complete(); err != nil {
		return h, nil, fmt.Errorf("%w: request header: %v", errMalformed, err)
	}
	return h, r.Src, nil
}

// skipHeaderTags skips the tagged fields of a flexible (v2) request header.
func skipHeaderTags(b []byte) ([]byte, error) {
	rest, err := wirecheck.SkipTags(b)
	if err != nil {
		return nil, fmt.Errorf("%w: request header tags: %v", errMalformed, err)
	}
	return rest, nil
}

// apiVersionsKey is the one API whose response header is always v0 (no tag
// byte), so that a client can read it whatever version it asked for.
const apiVersionsKey = 18

// appendResponseHeader appends the response header: the correlation id and,
// for flexible responses other than ApiVersions, an empty tag section.
func appendResponseHeader(dst []byte, h requestHeader, flexible bool) []byte {
	dst = kbin.AppendInt32(dst, h.correlationID)
	if flexible && h.apiKey != apiVersionsKey {
		dst = append(dst, 0)
	}
	return dst
}

package kafka

import (
	"fmt"
	"reflect"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/kafkawire"
	"github.com/riffle/riffle/netio"
)

// answerUnserved answers a request for an API key that kmsg knows but this
// broker does not serve, so that a client that skipped ApiVersions sees an
// error instead of a closed connection: the response of that key and
// version, empty but for UNSUPPORTED_VERSION in its top-level error code
// (and a message where it has one). The body is not read; only the header
// is needed. It returns nil where the protocol has no such answer (a
// version kmsg cannot encode, a response without a top-level error code at
// that version): the connection is then closed. These answers are not
// reported to the Observer, whose series cover the served keys only.
func answerUnserved(h kafkawire.RequestHeader) []netio.Piece {
	req := kmsg.RequestForKey(h.APIKey)
	if req == nil || h.APIVersion < 0 || h.APIVersion > req.MaxVersion() {
		return nil
	}
	resp := req.ResponseKind()
	resp.SetVersion(h.APIVersion)
	v := reflect.ValueOf(resp).Elem()
	code := v.FieldByName("ErrorCode")
	if !code.IsValid() || code.Kind() != reflect.Int16 {
		return nil
	}
	code.SetInt(int64(kerr.UnsupportedVersion.Code))
	if msg := v.FieldByName("ErrorMessage"); msg.IsValid() && msg.Type() == reflect.TypeFor[*string]() {
		s := fmt.Sprintf("%s (api key %d) is not served by this broker", kmsg.NameForKey(h.APIKey), h.APIKey)
		msg.Set(reflect.ValueOf(&s))
	}
	body := resp.AppendTo(nil)
	// Some responses gained their error code in a later version: make sure
	// this version carries it.
	check := req.ResponseKind()
	check.SetVersion(h.APIVersion)
	if err := check.ReadFrom(body); err != nil || reflect.ValueOf(check).Elem().FieldByName("ErrorCode").Int() != int64(kerr.UnsupportedVersion.Code) {
		return nil
	}
	buf := kafkawire.AppendResponseHeader(make([]byte, 0, 8+len(body)), h, resp.IsFlexible())
	return []netio.Piece{{Bytes: append(buf, body...)}}
}

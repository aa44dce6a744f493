package kafka

import (
	"context"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/kafkatest"
	"github.com/riffle/riffle/netio"
)

// TestUnservedAPIKeyAnswered: UpdateFeatures, which Riffle does not
// serve, is answered UNSUPPORTED_VERSION with a message at every version,
// not met with a closed connection; nothing reaches the Observer.
func TestUnservedAPIKeyAnswered(t *testing.T) {
	if apis[kmsg.UpdateFeatures.Int16()] != nil {
		t.Fatal("UpdateFeatures is served now: pick another unserved key")
	}
	obs := newRecordingObserver()
	cfg := stackConfig()
	cfg.Observer = obs
	s := newBrokerStack(t, cfg)
	for v := int16(0); v <= kmsg.NewPtrUpdateFeaturesRequest().MaxVersion(); v++ {
		req := kmsg.NewPtrUpdateFeaturesRequest()
		req.SetVersion(v)
		resp := roundTrip[*kmsg.UpdateFeaturesResponse](t, s.b, req)
		if resp.ErrorCode != kerr.UnsupportedVersion.Code || resp.ErrorMessage == nil || len(resp.Results) != 0 {
			t.Errorf("UpdateFeatures v%d: %+v", v, resp)
		}
	}
	if len(obs.requests) != 0 || len(obs.codes) != 0 {
		t.Errorf("observer saw %v and codes %v", obs.requests, obs.codes)
	}
}

// TestUnservedAPIKeys sends every API key kmsg knows and Riffle does not
// serve, at every version kmsg has: answered UNSUPPORTED_VERSION where the
// response has a top-level error code at that version, else closed, as
// are unknown keys and versions beyond kmsg's.
func TestUnservedAPIKeys(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	answered := 0
	for key := int16(0); key < 200; key++ {
		req := kmsg.RequestForKey(key)
		if req == nil || apis[key] != nil {
			continue
		}
		for v := int16(0); v <= req.MaxVersion(); v++ {
			if key == kmsg.ControlledShutdown.Int16() && v == 0 {
				continue // request header v0, without a client id: not parsed
			}
			req.SetVersion(v)
			resp, err := exchange[kmsg.Response](s.b, req)
			if err != nil {
				// Closed: the response must have no top-level error code
				// at v (checked by encoding one).
				probe := req.ResponseKind()
				probe.SetVersion(v)
				if f := reflect.ValueOf(probe).Elem().FieldByName("ErrorCode"); f.IsValid() {
					f.SetInt(1)
					check := req.ResponseKind()
					check.SetVersion(v)
					if check.ReadFrom(probe.AppendTo(nil)) == nil && reflect.ValueOf(check).Elem().FieldByName("ErrorCode").Int() == 1 {
						t.Errorf("%s v%d: closed although the response has an error code: %v", kmsg.NameForKey(key), v, err)
					}
				}
				continue
			}
			if code := reflect.ValueOf(resp).Elem().FieldByName("ErrorCode").Int(); code != int64(kerr.UnsupportedVersion.Code) {
				t.Errorf("%s v%d: error code %d", kmsg.NameForKey(key), v, code)
			}
			answered++
		}
	}
	if answered == 0 {
		t.Fatal("no unserved key was answered")
	}
	acls := kmsg.NewPtrDescribeACLsRequest()
	acls.SetVersion(0)
	beyond := kafkatest.Frame(acls, 5)
	beyond[3] = byte(acls.MaxVersion() + 1) // a version kmsg cannot encode an answer in
	unknown := kafkatest.Frame(kmsg.NewPtrMetadataRequest(), 5)
	unknown[0], unknown[1] = 0x03, 0xe7 // api key 999
	for name, frame := range map[string][]byte{"a version beyond kmsg's": beyond, "api key 999": unknown} {
		if _, err := s.b.ServeFrame(context.Background(), &netio.Conn{}, frame); err == nil {
			t.Errorf("%s answered", name)
		}
	}
}

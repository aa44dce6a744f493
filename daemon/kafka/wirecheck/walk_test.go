package wirecheck

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// unknownTag is a tag no schema defines; its payload would be a huge tag
// count if it were walked.
const unknownTag = 1000

// filledRequest returns request key with every field set (one element in
// each array, an unknown tag in each tag section), encoded at version.
func filledRequest(t *testing.T, key, version int16) []byte {
	t.Helper()
	req := kmsg.RequestForKey(key)
	fill(reflect.ValueOf(req).Elem())
	req.SetVersion(version)
	return req.AppendTo(nil)
}

var tagsType = reflect.TypeFor[kmsg.Tags]()

func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == tagsType {
			var tags kmsg.Tags
			tags.Set(unknownTag, []byte{0xff, 0xff, 0xff, 0xff, 0x0f})
			v.Set(reflect.ValueOf(tags))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).Name != "Version" {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte("opaque bytes"))
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(v.Index(i))
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.String:
		v.SetString("name")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(3)
	case reflect.Uint16, reflect.Uint32:
		v.SetUint(3)
	case reflect.Float64:
		v.SetFloat(0.5)
	case reflect.Array:
		for i := range v.Len() {
			v.Index(i).SetUint(uint64(i + 1))
		}
	}
}

// versionsBoth lists every (key, version) that both kmsg and the schema
// table know.
func versionsBoth(yield func(key, version int16) bool) {
	for key, m := range requests {
		req := kmsg.RequestForKey(key)
		if req == nil {
			continue
		}
		for v := m.valid.from; v < m.valid.to && v <= req.MaxVersion(); v++ {
			if !yield(key, v) {
				return
			}
		}
	}
}

// TestKmsgEncodingsWalkExactly checks the table against kmsg's encodings:
// a request with every field set walks to its last byte, and every proper
// prefix of it is refused.
func TestKmsgEncodingsWalkExactly(t *testing.T) {
	n := 0
	for key, v := range versionsBoth {
		body := filledRequest(t, key, v)
		name := kmsg.NameForKey(key)
		m := requests[key]
		w := walker{src: body, flexible: m.flexible.has(v)}
		if err := w.fields(m.fields, v); err != nil {
			t.Errorf("%s v%d: %v\n%x", name, v, err, body)
			continue
		}
		if len(w.src) != 0 {
			t.Errorf("%s v%d: %d of %d bytes left after the walk\n%x", name, v, len(w.src), len(body), body)
			continue
		}
		for cut := range len(body) {
			if err := Request(key, v, body[:cut]); err == nil {
				t.Errorf("%s v%d: accepted %d of %d bytes", name, v, cut, len(body))
				break
			}
		}
		n++
	}
	t.Logf("%d request versions walked", n)
}

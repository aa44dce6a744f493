package kafkatest

import (
	"reflect"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Filled returns request key with every field set, whatever the version
// it is encoded at: two elements in each array, an unknown tag (1000,
// whose payload would read as a tag count of 2^32-1) in each tag section.
// It exercises every part of a request's wire layout; the values mean
// nothing.
func Filled(key int16) kmsg.Request {
	req := kmsg.RequestForKey(key)
	if req != nil {
		fill(reflect.ValueOf(req).Elem())
	}
	return req
}

var tagsType = reflect.TypeFor[kmsg.Tags]()

func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == tagsType {
			var tags kmsg.Tags
			tags.Set(1000, []byte{0xff, 0xff, 0xff, 0xff, 0x0f})
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

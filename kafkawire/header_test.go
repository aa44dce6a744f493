package kafkawire

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/kafkatest"
)

func FuzzRequestHeader(f *testing.F) {
	f.Add(kafkatest.Frame(kmsg.NewPtrApiVersionsRequest(), 1))
	f.Add([]byte{0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 2, 1, 5, 1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, frame []byte) {
		h, rest, err := ParseRequestHeaderPrefix(frame)
		if err != nil {
			return
		}
		if len(rest) > len(frame) || h.APIKey != int16(frame[0])<<8|int16(frame[1]) {
			t.Fatalf("header %+v from %x", h, frame)
		}
		if tail, err := SkipHeaderTags(rest); err == nil && len(tail) > len(rest) {
			t.Fatalf("tags grew the frame")
		}
	})
}

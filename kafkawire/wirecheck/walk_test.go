package wirecheck

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/kafkatest"
)

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
		req := kafkatest.Filled(key)
		req.SetVersion(v)
		body := req.AppendTo(nil)
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

// BenchmarkWalkVsDecode compares the walk with kmsg's decode of the same
// body (Produce v9 and Fetch v12, every field set).
func BenchmarkWalkVsDecode(b *testing.B) {
	for _, c := range []struct{ key, version int16 }{{0, 9}, {1, 12}} {
		req := kafkatest.Filled(c.key)
		req.SetVersion(c.version)
		body := req.AppendTo(nil)
		name := kmsg.NameForKey(c.key)
		b.Run(name+"/walk", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := Request(c.key, c.version, body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/kmsg", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := req.ReadFrom(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package workload

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"
)

// Stamp writes the intended send time into the first StampBytes of value.
func Stamp(value []byte, intended time.Time) {
	binary.BigEndian.PutUint64(value, uint64(intended.UnixNano()))
}

// StampOf reads the intended send time from a value; ok is false if the
// value is too short to carry one.
func StampOf(value []byte) (t time.Time, ok bool) {
	if len(value) < StampBytes {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(value))), true
}

// Generator makes the records of one producer. It is not safe for
// concurrent use; each producer owns one.
type Generator struct {
	template []byte // random filler, so compression sees realistic data
	keys     string
	keyCount int
	next     int
	rng      *rand.Rand
}

// NewGenerator returns a generator for s, seeded with seed so runs are
// repeatable.
func NewGenerator(s *Scenario, seed uint64) *Generator {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	template := make([]byte, s.RecordBytes)
	for i := range template {
		// Printable bytes: compressible about as well as typical text payloads.
		template[i] = byte('a' + rng.IntN(26))
	}
	return &Generator{template: template, keys: s.KeyDistribution, keyCount: s.KeyCount, rng: rng}
}

// Value returns a new value stamped with intended. Each call allocates:
// clients hold values until they are acknowledged.
func (g *Generator) Value(intended time.Time) []byte {
	v := make([]byte, len(g.template))
	copy(v, g.template)
	Stamp(v, intended)
	return v
}

// Key returns the next record's key, nil for KeysNone.
func (g *Generator) Key() []byte {
	switch g.keys {
	case KeysRandom:
		return fmt.Appendf(nil, "%016x", g.rng.Uint64())
	case KeysRoundRobin:
		k := fmt.Appendf(nil, "key-%d", g.next)
		g.next = (g.next + 1) % g.keyCount
		return k
	default:
		return nil
	}
}

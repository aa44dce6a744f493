package quorum

import (
	"maps"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestPmapMatchesMap runs random sets and removes against a pmap and a Go
// map, keeping every version: each must still read as it did when made.
func TestPmapMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type version struct {
		m    pmap[string, int]
		want map[string]int
	}
	var m pmap[string, int]
	want := map[string]int{}
	var versions []version
	for i := range 20000 {
		k := strconv.Itoa(rng.IntN(3000))
		if rng.IntN(3) == 0 {
			m = m.remove(k)
			delete(want, k)
		} else {
			m = m.set(k, i)
			want[k] = i
		}
		if i%1000 == 0 {
			versions = append(versions, version{m, maps.Clone(want)})
		}
	}
	versions = append(versions, version{m, want})
	for vi, v := range versions {
		if v.m.Len() != len(v.want) {
			t.Fatalf("version %d: len %d, want %d", vi, v.m.Len(), len(v.want))
		}
		for k, w := range v.want {
			if got, ok := v.m.get(k); !ok || got != w {
				t.Fatalf("version %d: get(%s) = %d, %v, want %d", vi, k, got, ok, w)
			}
		}
		seen := 0
		for k, got := range v.m.all() {
			if w, ok := v.want[k]; !ok || got != w {
				t.Fatalf("version %d: all yields %s=%d, want %d, %v", vi, k, got, w, ok)
			}
			seen++
		}
		if seen != len(v.want) {
			t.Fatalf("version %d: all yields %d entries, want %d", vi, seen, len(v.want))
		}
		if _, ok := v.m.get("absent"); ok {
			t.Fatalf("version %d: absent key found", vi)
		}
	}
	// Removing everything leaves the empty map.
	for k := range want {
		m = m.remove(k)
	}
	if m.Len() != 0 || m.root != nil {
		t.Fatalf("after removing all: len %d, root %v", m.Len(), m.root)
	}
}

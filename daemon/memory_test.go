package daemon

import "testing"

func TestIdleMemoryReturnsWhenQuietAndReclaimable(t *testing.T) {
	var m idleMemory
	var total uint64
	step := func(delta, reclaimable uint64) bool {
		total += delta
		return m.observe(heapSample{allocs: total, reclaimable: reclaimable})
	}
	for i, tc := range []struct {
		delta, reclaimable uint64
		want               bool
	}{
		{0, 0, false}, // idle, nothing to return
		{quietAllocBytes * 8, reclaimableMinBytes * 4, false}, // busy: leave the collector alone
		{quietAllocBytes - 1, reclaimableMinBytes * 4, true},  // quiet after the load: return
		{0, reclaimableMinBytes - 1, false},                   // returned: too little left to bother
		{quietAllocBytes * 2, reclaimableMinBytes, false},     // a moderate load
		{quietAllocBytes / 2, reclaimableMinBytes, true},      // a trickle at the end still returns
	} {
		if got := step(tc.delta, tc.reclaimable); got != tc.want {
			t.Errorf("tick %d (+%d bytes, %d reclaimable): return = %v, want %v", i, tc.delta, tc.reclaimable, got, tc.want)
		}
	}
}

package daemon

import "testing"

func TestIdleMemoryReturnsOnceAfterBusySpell(t *testing.T) {
	var m idleMemory
	var total uint64
	step := func(delta uint64) bool { total += delta; return m.observe(total) }
	for i, tc := range []struct {
		delta uint64
		want  bool
	}{
		{idleAllocBytes / 2, false}, // idle without a busy spell before: nothing to return
		{busyAllocBytes, false},     // busy
		{busyAllocBytes * 2, false}, // still busy
		{idleAllocBytes * 4, false}, // slower but not idle
		{idleAllocBytes / 2, true},  // idle: return once
		{0, false},                  // still idle: already returned
		{busyAllocBytes - 1, false}, // moderate load does not re-arm
		{0, false},
		{busyAllocBytes, false}, // busy again
		{0, true},
	} {
		if got := step(tc.delta); got != tc.want {
			t.Errorf("tick %d (+%d bytes): return = %v, want %v", i, tc.delta, got, tc.want)
		}
	}
}

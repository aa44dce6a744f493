package daemon

import (
	"runtime/debug"
	"runtime/metrics"
)

// When nothing allocates, Go collects only every two minutes, and until a
// collection the heap keeps the size the last busy spell gave it: after a
// produce load the request frames it freed stayed resident that long.
// idleMemory notices the end of a busy spell and has the memory returned
// to the OS once. Both thresholds are bytes allocated in one tick; a busy
// tick is one any produce load gives, so a stall mid-load that returns
// memory early is followed by another return at the load's end.
const (
	busyAllocBytes = 16 << 20 // request frames arriving
	idleAllocBytes = 1 << 20  // heartbeats and metadata
)

type idleMemory struct {
	lastAllocs uint64
	busy       bool // a busy tick since the last return
}

// observe takes the heap's total allocated bytes, sampled once a tick,
// and reports whether to return free memory to the OS now.
func (m *idleMemory) observe(allocs uint64) bool {
	delta := allocs - m.lastAllocs
	m.lastAllocs = allocs
	switch {
	case delta >= busyAllocBytes:
		m.busy = true
	case m.busy && delta < idleAllocBytes:
		m.busy = false
		return true
	}
	return false
}

// heapAllocs is the bytes the heap has allocated since the process started.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// returnIdleMemory is a tick's check: a full collection and a return of
// every free page, once a busy spell has ended.
func (m *idleMemory) returnIdleMemory() {
	if m.observe(heapAllocs()) {
		debug.FreeOSMemory()
	}
}

package daemon

import (
	"runtime/debug"
	"runtime/metrics"
)

// When nothing allocates, Go collects only every two minutes, and until a
// collection the heap keeps the size the last busy spell gave it: after a
// produce load the request frames it freed stayed resident that long.
// idleMemory has the memory returned to the OS on a quiet tick once the
// heap holds much more than was live at the last collection. It needs no
// memory of a busy spell: a load that stalls, or ends with a trickle of
// requests, still gets its memory back.
const (
	quietAllocBytes     = 4 << 20  // allocated in one tick: heartbeats, metadata, a trickle of requests
	reclaimableMinBytes = 64 << 20 // heap beyond the last collection's live bytes worth a full collection
)

type idleMemory struct {
	lastAllocs uint64
}

// heapSample is what a tick reads of the heap.
type heapSample struct {
	allocs      uint64 // bytes allocated since the process started
	reclaimable uint64 // heap held (objects and free pages) beyond what was live at the last collection
}

// observe takes a tick's sample and reports whether to return free memory
// to the OS now.
func (m *idleMemory) observe(s heapSample) bool {
	delta := s.allocs - m.lastAllocs
	m.lastAllocs = s.allocs
	return delta < quietAllocBytes && s.reclaimable >= reclaimableMinBytes
}

var heapMetrics = []string{
	"/gc/heap/allocs:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
	"/gc/heap/live:bytes",
}

func readHeap() heapSample {
	s := make([]metrics.Sample, len(heapMetrics))
	for i, name := range heapMetrics {
		s[i].Name = name
	}
	metrics.Read(s)
	held := s[1].Value.Uint64() + s[2].Value.Uint64()
	live := s[3].Value.Uint64()
	return heapSample{allocs: s[0].Value.Uint64(), reclaimable: held - min(held, live)}
}

// returnIdleMemory is a tick's check: a full collection and a return of
// every free page when the broker is quiet and the heap is much larger
// than its live data.
func (m *idleMemory) returnIdleMemory() {
	if m.observe(readHeap()) {
		debug.FreeOSMemory()
	}
}

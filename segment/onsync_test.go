package segment

import (
	"sync"
	"testing"
	"time"

	"github.com/riffle/riffle/segment/vfs"
)

// TestOnSyncReportsEachFlush checks Options.OnSync: one call per flush,
// with at least the time the files' syncs took.
func TestOnSyncReportsEachFlush(t *testing.T) {
	const delay = 2 * time.Millisecond
	e := newEnv(t, smallConfig())
	e.opts.FS = &countingFS{FS: vfs.OS, syncDelay: delay}
	var mu sync.Mutex
	var took []time.Duration
	e.opts.OnSync = func(d time.Duration) {
		mu.Lock()
		took = append(took, d)
		mu.Unlock()
	}
	d, l := e.openLog()
	defer d.Close()
	for i := range 3 {
		mustAppend(t, l, testBatch(int64(i), 2))
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil { // nothing new: no sync
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(took) != 3 {
		t.Fatalf("OnSync called %d times for 3 flushes: %v", len(took), took)
	}
	for i, d := range took {
		if d < delay {
			t.Errorf("flush %d took %v, less than one file sync (%v)", i, d, delay)
		}
	}
}

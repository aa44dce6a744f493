package segment

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/riffle/riffle/segment/vfs"
)

var errInjectedSync = errors.New("injected fdatasync failure")

// TestFailedLogsReported: a log whose fdatasync failed reports it through
// Err, and the data dir through Failed, while healthy logs report nil.
func TestFailedLogsReported(t *testing.T) {
	var failing atomic.Pointer[string] // path prefix whose syncs fail
	dir := t.TempDir()
	fsys := vfs.Inject(vfs.NewMemFS(), func(op vfs.Op, path string) error {
		if p := failing.Load(); op == vfs.OpSync && p != nil && strings.HasPrefix(path, *p) {
			return errInjectedSync
		}
		return nil
	})
	cfg := DefaultConfig()
	d, err := OpenDataDir(dir, func(string) Config { return cfg }, Options{FS: fsys, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	logs := make([]*Log, 6)
	for i := range logs {
		if logs[i], err = d.CreateLog(fmt.Sprintf("t%d", i), 0, cfg); err != nil {
			t.Fatal(err)
		}
	}
	appendAndFlush := func(l *Log) error {
		batch := EncodeBatch(nil, BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, []Record{{Value: []byte("v")}})
		if _, err := l.Append(valid(batch), 0); err != nil {
			return err
		}
		return l.Flush()
	}
	for _, l := range logs {
		if err := appendAndFlush(l); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Failed(); err != nil {
		t.Fatalf("healthy data dir: Failed = %v", err)
	}

	prefix := filepath.Join(dir, "t0-0")
	failing.Store(&prefix)
	if err := appendAndFlush(logs[0]); !errors.Is(err, errInjectedSync) {
		t.Fatalf("flush with a failing fdatasync: %v", err)
	}
	failing.Store(nil)
	if err := logs[0].Err(); !errors.Is(err, errInjectedSync) || !strings.Contains(err.Error(), "t0-0") {
		t.Errorf("failed log: Err = %v", err)
	}
	if err := logs[1].Err(); err != nil {
		t.Errorf("healthy log: Err = %v", err)
	}
	if err := d.Failed(); !errors.Is(err, errInjectedSync) || strings.Contains(err.Error(), "t1-0") {
		t.Errorf("one failed log: Failed = %v", err)
	}

	prefix = filepath.Join(dir, "t")
	failing.Store(&prefix)
	for _, l := range logs[1:] {
		if err := appendAndFlush(l); !errors.Is(err, errInjectedSync) {
			t.Fatalf("flush with a failing fdatasync: %v", err)
		}
	}
	err = d.Failed()
	if want := fmt.Sprintf("and %d more failed logs", len(logs)-failedLogsReported); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("every log failed: Failed = %v, want it to end %q", err, want)
	}
}

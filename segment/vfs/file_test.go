package vfs

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

// WriteFile's new content is durable once it returns; if any step fails,
// power loss leaves the old content whole.
func TestWriteFileAtomic(t *testing.T) {
	read := func(m *MemFS) string {
		t.Helper()
		f, err := m.OpenFile("/d/f", os.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		n, _ := f.Size()
		b := make([]byte, n)
		if _, err := f.ReadAt(b, 0); err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	mem := NewMemFS()
	if err := mem.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mem.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(mem, "/d/f", []byte("old content")); err != nil {
		t.Fatal(err)
	}
	if got := read(mem.CrashClone()); got != "old content" {
		t.Fatalf("after WriteFile and power loss: %q", got)
	}
	for _, op := range []Op{OpOpenFile, OpWriteAt, OpSync, OpRename, OpSyncDir} {
		fail := Inject(mem, func(o Op, _ string) error {
			if o == op {
				return syscall.EIO
			}
			return nil
		})
		if err := WriteFile(fail, "/d/f", []byte("new")); !errors.Is(err, syscall.EIO) {
			t.Fatalf("%v failing: err %v", op, err)
		}
		if op != OpSyncDir { // the rename happened, only its durability failed
			if got := read(mem); got != "old content" {
				t.Fatalf("%v failing: file holds %q", op, got)
			}
		}
		if got := read(mem.CrashClone()); got != "old content" {
			t.Fatalf("%v failing, then power loss: file holds %q", op, got)
		}
		if err := WriteFile(mem, "/d/f", []byte("old content")); err != nil {
			t.Fatal(err)
		}
	}
}

package vfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestConformance runs the same operations on the OS and on MemFS, so MemFS
// keeps the OS's semantics where segment/ relies on them.
func TestConformance(t *testing.T) {
	for name, fsys := range map[string]FS{"os": OS, "mem": NewMemFS()} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir() // also the MemFS path, so names match
			if err := fsys.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			conformFiles(t, fsys, dir)
			conformNames(t, fsys, dir)
			conformMap(t, fsys, dir)
		})
	}
}

func conformFiles(t *testing.T, fsys FS, dir string) {
	p := filepath.Join(dir, "a")
	if _, err := fsys.OpenFile(p, os.O_RDWR, 0o644); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open missing: %v", err)
	}
	f := mustOpen(t, fsys, p, os.O_RDWR|os.O_CREATE|os.O_EXCL)
	if _, err := fsys.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("O_EXCL on existing: %v", err)
	}
	mustWrite(t, f, "hello", 3)
	if got := readAll(t, f); got != "\x00\x00\x00hello" {
		t.Fatalf("after write with a gap: %q", got)
	}
	buf := make([]byte, 4)
	if n, err := f.ReadAt(buf, 6); n != 2 || err != io.EOF {
		t.Fatalf("short read: %d %v", n, err)
	}
	if n, err := f.ReadAt(buf, 100); n != 0 || err != io.EOF {
		t.Fatalf("read past end: %d %v", n, err)
	}
	if err := f.Truncate(4); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(6); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, f); got != "\x00\x00\x00h\x00\x00" {
		t.Fatalf("shrink then grow must zero-fill: %q", got)
	}
	if err := f.Allocate(0, 10); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadAt(buf, 0); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	ro := mustOpen(t, fsys, p, os.O_RDONLY)
	defer ro.Close()
	if _, err := ro.WriteAt([]byte("x"), 0); err == nil {
		t.Fatal("write to a read-only file succeeded")
	}
	if ro.Name() != p {
		t.Fatalf("Name %q, want %q", ro.Name(), p)
	}
}

func conformNames(t *testing.T, fsys FS, dir string) {
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	mustCreate(t, fsys, b, "old b")
	if err := fsys.Rename(a, b); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.Stat(a); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat renamed-away name: %v", err)
	}
	st, err := fsys.Stat(b)
	if err != nil || st.Size() < 10 || st.IsDir() || st.Name() != "b" {
		t.Fatalf("stat b: %v %v", st, err)
	}
	names, err := fsys.ReadDir(dir)
	if err != nil || !reflect.DeepEqual(names, []string{"b", "sub"}) {
		t.Fatalf("ReadDir: %v %v", names, err)
	}
	if err := fsys.Remove(dir); err == nil {
		t.Fatal("removed a non-empty directory")
	}
	if err := fsys.Remove(b); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Remove(b); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("remove twice: %v", err)
	}
	mustCreate(t, fsys, filepath.Join(dir, "sub", "x"), "x")
	if err := fsys.RemoveAll(filepath.Join(dir, "sub")); err != nil {
		t.Fatal(err)
	}
	if err := fsys.RemoveAll(filepath.Join(dir, "nothing")); err != nil {
		t.Fatalf("RemoveAll of a missing name: %v", err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
}

func conformMap(t *testing.T, fsys FS, dir string) {
	f := mustOpen(t, fsys, filepath.Join(dir, "m"), os.O_RDWR|os.O_CREATE)
	defer f.Close()
	mustWrite(t, f, "ma", 0)
	if err := f.Allocate(0, 8); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, f); got != "ma\x00\x00\x00\x00\x00\x00" {
		t.Fatalf("Allocate changed the contents: %q", got)
	}
	m, err := f.Map(8, true)
	if err != nil {
		t.Fatal(err)
	}
	copy(m, "mapped")
	if got := readAll(t, f); got != "mapped\x00\x00" {
		t.Fatalf("store through map, ReadAt gives %q", got)
	}
	mustWrite(t, f, "W", 7)
	if m[7] != 'W' {
		t.Fatalf("WriteAt not seen through map: %q", m)
	}
	if err := f.Unmap(m); err != nil {
		t.Fatal(err)
	}
	if _, ok := fsys.(*MemFS); ok {
		if _, err := f.Map(9, false); err == nil {
			t.Fatal("mapped past the end of a MemFS file")
		}
	}
}

func TestMemCrashKeepsOnlySyncedData(t *testing.T) {
	m := NewMemFS()
	if err := m.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, m, "/d/f", os.O_RDWR|os.O_CREATE)
	mustWrite(t, f, "synced", 0)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, "-lost", 6)
	mustWrite(t, f, "S", 0) // overwrite of synced bytes, itself unsynced
	if got := readAll(t, f); got != "Synced-lost" {
		t.Fatalf("volatile contents %q", got)
	}
	syncDirs(t, m, "/", "/d")

	c := m.CrashClone()
	if got := readFile(t, c, "/d/f"); got != "synced" {
		t.Fatalf("after crash %q, want the synced bytes only", got)
	}
	if err := f.Truncate(2); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, m.CrashClone(), "/d/f"); got != "Sy" {
		t.Fatalf("after synced truncate %q", got)
	}
	if got := readFile(t, c, "/d/f"); got != "synced" {
		t.Fatalf("an earlier clone changed: %q", got)
	}
}

func TestMemCrashKeepsOnlySyncedEntries(t *testing.T) {
	m := NewMemFS()
	if err := m.MkdirAll("/d/e", 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CrashClone().Stat("/d"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("unsynced mkdir survived: %v", err)
	}
	syncDirs(t, m, "/", "/d")
	for _, n := range []string{"a", "b", "c"} {
		f := mustOpen(t, m, "/d/e/"+n, os.O_RDWR|os.O_CREATE)
		mustWrite(t, f, n, 0)
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if names := readDir(t, m.CrashClone(), "/d/e"); len(names) != 0 {
		t.Fatalf("synced files under an unsynced directory survived: %v", names)
	}
	syncDirs(t, m, "/d/e")
	if err := m.Rename("/d/e/a", "/d/e/z"); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove("/d/e/b"); err != nil {
		t.Fatal(err)
	}
	if names := readDir(t, m.CrashClone(), "/d/e"); !reflect.DeepEqual(names, []string{"a", "b", "c"}) {
		t.Fatalf("unsynced rename/remove took effect: %v", names)
	}
	syncDirs(t, m, "/d/e")
	c := m.CrashClone()
	if names := readDir(t, c, "/d/e"); !reflect.DeepEqual(names, []string{"c", "z"}) {
		t.Fatalf("synced rename/remove lost: %v", names)
	}
	if got := readFile(t, c, "/d/e/z"); got != "a" {
		t.Fatalf("renamed file holds %q", got)
	}
}

// A rename into another directory synced on the new side only leaves the
// file under both names, one inode.
func TestMemCrashRenameAcrossDirsIsOneInode(t *testing.T) {
	m := NewMemFS()
	for _, d := range []string{"/x", "/y"} {
		if err := m.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(t, m, "/x/f", "data")
	syncDirs(t, m, "/", "/x")
	if err := m.Rename("/x/f", "/y/f"); err != nil {
		t.Fatal(err)
	}
	syncDirs(t, m, "/y")
	c := m.CrashClone()
	f := mustOpen(t, c, "/x/f", os.O_RDWR)
	mustWrite(t, f, "D", 0)
	if got := readFile(t, c, "/y/f"); got != "Data" {
		t.Fatalf("second name sees %q", got)
	}
}

func TestMemMapStoresAreDurableOnSync(t *testing.T) {
	m := NewMemFS()
	f := mustOpen(t, m, "/f", os.O_RDWR|os.O_CREATE)
	if err := f.Allocate(0, 4); err != nil {
		t.Fatal(err)
	}
	syncDirs(t, m, "/")
	b, err := f.Map(4, true)
	if err != nil {
		t.Fatal(err)
	}
	copy(b, "ab")
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	copy(b[2:], "cd")
	if got := readFile(t, m.CrashClone(), "/f"); got != "ab\x00\x00" {
		t.Fatalf("after crash %q", got)
	}
	if err := f.Truncate(1 << 20); !errors.Is(err, ErrMappedGrow) {
		t.Fatalf("grow while mapped: %v", err)
	}
	if err := f.Unmap(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Unmap(b); err == nil {
		t.Fatal("unmapped twice")
	}
	if err := f.Truncate(1 << 20); err != nil {
		t.Fatalf("grow after unmap: %v", err)
	}
	if _, err := mustOpen(t, m, "/f", os.O_RDONLY).Map(4, true); err == nil {
		t.Fatal("writable map of a read-only file")
	}
}

func TestMemRefusesOAppend(t *testing.T) {
	if _, err := NewMemFS().OpenFile("/f", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		t.Fatal("O_APPEND accepted; WriteAt on such a file fails on the OS")
	}
}

func TestMemOSIsNil(t *testing.T) {
	if mustOpen(t, NewMemFS(), "/f", os.O_RDWR|os.O_CREATE).OS() != nil {
		t.Fatal("MemFS file has an *os.File")
	}
}

func mustOpen(t *testing.T, fsys FS, name string, flag int) File {
	t.Helper()
	f, err := fsys.OpenFile(name, flag, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustWrite(t *testing.T, f File, s string, off int64) {
	t.Helper()
	if n, err := f.WriteAt([]byte(s), off); n != len(s) || err != nil {
		t.Fatalf("WriteAt %q at %d: %d %v", s, off, n, err)
	}
}

func mustCreate(t *testing.T, fsys FS, name, contents string) {
	t.Helper()
	f := mustOpen(t, fsys, name, os.O_RDWR|os.O_CREATE|os.O_TRUNC)
	mustWrite(t, f, contents, 0)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, f File) string {
	t.Helper()
	size, err := f.Size()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return string(b)
}

func readFile(t *testing.T, fsys FS, name string) string {
	t.Helper()
	f := mustOpen(t, fsys, name, os.O_RDONLY)
	defer f.Close()
	return readAll(t, f)
}

func readDir(t *testing.T, fsys FS, dir string) []string {
	t.Helper()
	names, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func syncDirs(t *testing.T, fsys FS, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := fsys.SyncDir(d); err != nil {
			t.Fatal(err)
		}
	}
}

// A writable mapping over bytes no write or Allocate backed is refused: on a
// real full disk a store there is SIGBUS.
func TestMemWritableMapNeedsAllocation(t *testing.T) {
	m := NewMemFS()
	f := mustOpen(t, m, "/f", os.O_RDWR|os.O_CREATE)
	mustWrite(t, f, "abcd", 0)
	if err := f.Truncate(16); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Map(16, true); !errors.Is(err, ErrSparseMap) {
		t.Fatalf("writable map over a hole: %v, want ErrSparseMap", err)
	}
	b, err := f.Map(16, false)
	if err != nil {
		t.Fatalf("read-only map over a hole: %v", err)
	}
	if err := f.Unmap(b); err != nil {
		t.Fatal(err)
	}
	if b, err = f.Map(4, true); err != nil {
		t.Fatalf("writable map of written bytes: %v", err)
	}
	if err := f.Unmap(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Allocate(4, 12); err != nil {
		t.Fatal(err)
	}
	if b, err = f.Map(16, true); err != nil {
		t.Fatalf("writable map after Allocate: %v", err)
	}
	if string(b[:4]) != "abcd" {
		t.Fatalf("Allocate changed the contents: %q", b)
	}
}

package segment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/riffle/riffle/segment/vfs"
)

// logRecorder is a slog handler that keeps every record, for tests of what
// an open logs.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}

// find returns the first record at level whose message contains msg.
func (r *logRecorder) find(level slog.Level, msg string) (slog.Record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.records {
		if rec.Level == level && strings.Contains(rec.Message, msg) {
			return rec, true
		}
	}
	return slog.Record{}, false
}

func (r *logRecorder) count(level slog.Level) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.records {
		if rec.Level == level {
			n++
		}
	}
	return n
}

func attrInt(rec slog.Record, key string) int64 {
	var v int64 = -1
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.Int64()
			return false
		}
		return true
	})
	return v
}

// forEachFS runs fn on the real filesystem and on the memory FS.
func forEachFS(t *testing.T, fn func(t *testing.T, fsys vfs.FS, dir string)) {
	t.Run("os", func(t *testing.T) { fn(t, vfs.OS, t.TempDir()) })
	t.Run("mem", func(t *testing.T) { fn(t, vfs.NewMemFS(), "/data") })
}

// checkpointDamage turns a checkpoint's text into a damaged one.
var checkpointDamage = []struct {
	name   string
	damage func(good string) string
}{
	{"garbage", func(string) string { return "\x00\xff\x17not a checkpoint\x80" }},
	{"empty", func(string) string { return "" }},
	{"truncated", func(g string) string { return g[:len(g)-2] }},
	{"no entries", func(g string) string { return "0\n" }},
	{"bad version", func(g string) string { return "1" + g[1:] }},
	{"bad count", func(g string) string {
		lines := strings.SplitN(g, "\n", 3)
		return lines[0] + "\n99\n" + lines[2]
	}},
	{"bad entry", func(g string) string { return strings.TrimSuffix(g, "\n") + "x\n" }},
	{"negative", func(g string) string {
		lines := strings.Split(strings.TrimSuffix(g, "\n"), "\n")
		last := strings.Fields(lines[len(lines)-1])
		last[len(last)-1] = "-7"
		lines[len(lines)-1] = strings.Join(last, " ")
		return strings.Join(lines, "\n") + "\n"
	}},
}

func readFileFS(t *testing.T, fsys vfs.FS, name string) string {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFileFS(t *testing.T, fsys vfs.FS, name, text string) {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err == nil {
		_, err = f.WriteAt([]byte(text), 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

// checkpointedLog builds a cleanly closed data directory holding one log
// of several segments and returns its config; prepare may act on the log
// before the close.
func checkpointedLog(t *testing.T, fsys vfs.FS, dir string, prepare func(l *Log)) Config {
	t.Helper()
	cfg := smallConfig()
	d, err := OpenDataDir(dir, func(string) Config { return cfg }, Options{FS: fsys, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	l, err := d.CreateLog("t", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	prepare(l)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// reopen opens dir again with a recording logger; it must succeed.
func reopen(t *testing.T, fsys vfs.FS, dir string, cfg Config) (*DataDir, *Log, *logRecorder) {
	t.Helper()
	rec := &logRecorder{}
	d, err := OpenDataDir(dir, func(string) Config { return cfg }, Options{FS: fsys, Logger: slog.New(rec)})
	if err != nil {
		t.Fatalf("open with a damaged checkpoint: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	l := d.Log("t", 0)
	if l == nil {
		t.Fatal("log missing")
	}
	return d, l, rec
}

func TestCorruptRecoveryPointCheckpoint(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		for _, c := range checkpointDamage {
			t.Run(c.name, func(t *testing.T) {
				dir := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
				segments := 0
				cfg := checkpointedLog(t, fsys, dir, func(l *Log) {
					appendN(t, l, 30, 2, 1000)
					segments = l.SegmentCount()
				})
				if segments < 3 {
					t.Fatalf("want several segments, got %d", segments)
				}
				name := filepath.Join(dir, recoveryPointFile)
				writeFileFS(t, fsys, name, c.damage(readFileFS(t, fsys, name)))

				_, l, rec := reopen(t, fsys, dir, cfg)
				if _, ok := rec.find(slog.LevelWarn, "corrupt recovery-point checkpoint"); !ok {
					t.Fatal("no warning about the corrupt checkpoint")
				}
				// The clean-shutdown marker is ignored: every segment is scanned.
				info, ok := rec.find(slog.LevelInfo, "recovered log")
				if !ok || attrInt(info, "segments") != int64(segments) {
					t.Fatalf("recovery scanned %d segments, want all %d", attrInt(info, "segments"), segments)
				}
				if _, err := fsys.Stat(filepath.Join(dir, cleanShutdownFile)); err == nil {
					t.Fatal("clean-shutdown marker kept")
				}
				checkContiguous(t, readAll(t, l, 0), 0, 60)
				if got := readFileFS(t, fsys, name); got != "0\n1\nt 0 0\n" {
					t.Fatalf("rewritten checkpoint %q", got)
				}
			})
		}
	})
}

func TestCorruptLogStartCheckpoint(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		for _, c := range checkpointDamage {
			t.Run(c.name, func(t *testing.T) {
				dir := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
				var firstBase int64
				cfg := checkpointedLog(t, fsys, dir, func(l *Log) {
					appendN(t, l, 30, 2, 1000)
					if err := l.AdvanceLogStart(35); err != nil {
						t.Fatal(err)
					}
					firstBase = l.segments[0].base
				})
				if firstBase == 0 || firstBase >= 35 {
					t.Fatalf("first segment at %d: want one inside the log, below the log start", firstBase)
				}
				name := filepath.Join(dir, logStartFile)
				writeFileFS(t, fsys, name, c.damage(readFileFS(t, fsys, name)))

				_, l, rec := reopen(t, fsys, dir, cfg)
				if _, ok := rec.find(slog.LevelWarn, "corrupt log-start checkpoint"); !ok {
					t.Fatal("no warning about the corrupt checkpoint")
				}
				// A clean stop stays clean: only the log start is lost.
				if _, ok := rec.find(slog.LevelInfo, "recovered log"); ok {
					t.Fatal("a corrupt log-start checkpoint made the open rescan")
				}
				if l.LogStartOffset() != firstBase {
					t.Fatalf("log start %d, want the first segment's base %d", l.LogStartOffset(), firstBase)
				}
				checkContiguous(t, readAll(t, l, firstBase), firstBase, 60)
				if got, want := readFileFS(t, fsys, name), fmt.Sprintf("0\n1\nt 0 %d\n", firstBase); got != want {
					t.Fatalf("rewritten checkpoint %q, want %q", got, want)
				}
			})
		}
	})
}

func TestCorruptLeaderEpochCheckpoint(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		damages := append(checkpointDamage[:len(checkpointDamage):len(checkpointDamage)],
			struct {
				name   string
				damage func(string) string
			}{"not increasing", func(string) string { return "0\n2\n5 10\n2 0\n" }})
		for _, c := range damages {
			t.Run(c.name, func(t *testing.T) {
				dir := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
				cfg := checkpointedLog(t, fsys, dir, func(l *Log) {
					for i, epoch := range []int32{2, 2, 2, 5, 5, 9, 9, 9, 9, 9} {
						for range 3 {
							if _, err := l.Append(valid(testBatch(int64(1000*i), 2)), epoch); err != nil {
								t.Fatal(err)
							}
						}
					}
					if err := l.AdvanceLogStart(4); err != nil {
						t.Fatal(err)
					}
				})
				name := filepath.Join(dir, "t-0", epochCheckpointName)
				good := readFileFS(t, fsys, name)
				if good != "0\n3\n2 4\n5 18\n9 30\n" {
					t.Fatalf("checkpoint before damage %q", good)
				}
				writeFileFS(t, fsys, name, c.damage(good))

				_, l, rec := reopen(t, fsys, dir, cfg)
				if _, ok := rec.find(slog.LevelWarn, "corrupt leader-epoch checkpoint"); !ok {
					t.Fatal("no warning about the corrupt checkpoint")
				}
				if got := readFileFS(t, fsys, name); got != good {
					t.Fatalf("rebuilt checkpoint %q, want %q", got, good)
				}
				for _, q := range []struct{ epoch, wantEpoch int32 }{{2, 2}, {4, 2}, {5, 5}, {9, 9}} {
					want := map[int32]int64{2: 18, 5: 30, 9: 60}[q.wantEpoch]
					if e, o := l.EndOffsetForEpoch(q.epoch); e != q.wantEpoch || o != want {
						t.Errorf("EndOffsetForEpoch(%d) = %d, %d; want %d, %d", q.epoch, e, o, q.wantEpoch, want)
					}
				}
			})
		}
	})
}

// TestCheckpointIOErrorFailsOpen: an I/O error reading a checkpoint is a
// broken disk, not a damaged file: the open fails and says why.
func TestCheckpointIOErrorFailsOpen(t *testing.T) {
	for _, file := range []string{recoveryPointFile, logStartFile, epochCheckpointName} {
		t.Run(file, func(t *testing.T) {
			mem := vfs.NewMemFS()
			cfg := checkpointedLog(t, mem, "/data", func(l *Log) { appendN(t, l, 3, 1, 0) })
			broken := vfs.Inject(mem, func(op vfs.Op, path string) error {
				if op == vfs.OpReadAt && filepath.Base(path) == file {
					return syscall.EIO
				}
				return nil
			})
			d, err := OpenDataDir("/data", func(string) Config { return cfg }, Options{FS: broken, Logger: quietLogger})
			if err == nil {
				_ = d.Close()
				t.Fatal("open succeeded with an unreadable checkpoint")
			}
			if !errors.Is(err, syscall.EIO) || errors.Is(err, ErrCorruptCheckpoint) || !strings.Contains(err.Error(), file) {
				t.Fatalf("open error %v: want EIO naming %s", err, file)
			}
		})
	}
}

func TestDecodeEpochsRejects(t *testing.T) {
	for _, entries := range [][][]string{
		{{"x", "0"}},
		{{"1", "-1"}},
		{{"-2", "0"}},
		{{"1", "0"}, {"1", "5"}},
		{{"1", "5"}, {"2", "5"}},
		{{"3", "0"}, {"2", "5"}},
	} {
		if _, err := decodeEpochs(entries); !errors.Is(err, ErrCorruptCheckpoint) {
			t.Errorf("decodeEpochs(%q) = %v, want ErrCorruptCheckpoint", entries, err)
		}
	}
	c, err := decodeEpochs([][]string{{"1", "0"}, {"4", "7"}})
	if err != nil || len(c.entries) != 2 || c.entries[1] != (epochEntry{4, 7}) {
		t.Fatalf("decodeEpochs of a good checkpoint: %+v, %v", c.entries, err)
	}
}

// TestCheckpointWarningsOnlyWhenCorrupt: an intact data directory opens
// without a warning.
func TestCheckpointWarningsOnlyWhenCorrupt(t *testing.T) {
	mem := vfs.NewMemFS()
	cfg := checkpointedLog(t, mem, "/data", func(l *Log) { appendN(t, l, 3, 1, 0) })
	_, _, rec := reopen(t, mem, "/data", cfg)
	if n := rec.count(slog.LevelWarn); n != 0 {
		t.Fatalf("%d warnings opening an intact data directory", n)
	}
}

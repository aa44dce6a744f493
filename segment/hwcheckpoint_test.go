package segment

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/riffle/riffle/segment/vfs"
)

// TestHighWatermarkCheckpointSurvivesCrash: the replication-offset
// checkpoint is durable once CheckpointHighWatermarks returns with durable
// set, in Kafka's format; without, the file is replaced but nothing is
// synced; a power loss keeps the last durable one whole (never a torn or
// missing file); a partition the caller does not report keeps its entry; a
// deleted log loses it.
func TestHighWatermarkCheckpointSurvivesCrash(t *testing.T) {
	mem := vfs.NewMemFS()
	if err := errors.Join(mem.MkdirAll("/data", 0o755), mem.SyncDir("/")); err != nil {
		t.Fatal(err)
	}
	cfg := smallConfig()
	open := func(fsys vfs.FS) *DataDir {
		t.Helper()
		d, err := OpenDataDir("/data", func(string) Config { return cfg }, Options{FS: fsys, Logger: quietLogger})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := open(mem)
	for _, topic := range []string{"a", "b"} {
		if _, err := d.CreateLog(topic, 0, cfg); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := d.HighWatermark("a", 0); ok {
		t.Fatal("HW checkpointed before any checkpoint")
	}
	hws := []PartitionOffset{{"a", 0, 7}, {"b", 0, 3}, {"gone", 0, 9}}
	if err := d.CheckpointHighWatermarks(hws, true); err != nil {
		t.Fatal(err)
	}
	if got := readFileFS(t, mem, filepath.Join("/data", hwFile)); got != "0\n2\na 0 7\nb 0 3\n" {
		t.Fatalf("checkpoint %q", got)
	}
	// Written again with only "a" reported, then lost in a crash after a
	// third write that was not durable and a fourth that never synced: the
	// second stays.
	if err := d.CheckpointHighWatermarks([]PartitionOffset{{"a", 0, 12}}, true); err != nil {
		t.Fatal(err)
	}
	if err := d.CheckpointHighWatermarks([]PartitionOffset{{"a", 0, 20}}, false); err != nil {
		t.Fatal(err)
	}
	if got := readFileFS(t, mem, filepath.Join("/data", hwFile)); got != "0\n2\na 0 20\nb 0 3\n" {
		t.Fatalf("checkpoint not made durable %q", got)
	}
	writeUnsynced(t, mem, filepath.Join("/data", hwFile), "0\n2\na 0 99\n")
	crashed := open(mem.CrashClone())
	for _, c := range []struct {
		topic string
		want  int64
	}{{"a", 12}, {"b", 3}} {
		if hw, ok := crashed.HighWatermark(c.topic, 0); !ok || hw != c.want {
			t.Errorf("%s-0 HW after the crash %d (%v), want %d", c.topic, hw, ok, c.want)
		}
	}
	if err := crashed.DeleteLog("b", 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := crashed.HighWatermark("b", 0); ok {
		t.Error("a deleted log keeps its checkpointed HW")
	}
	if err := crashed.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeUnsynced overwrites name with text without syncing it.
func writeUnsynced(t *testing.T, fsys vfs.FS, name, text string) {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(text), 0); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptHighWatermarkCheckpoint: a damaged checkpoint is logged and
// read as none (each replica's HW starts at its log start), and the open
// goes on.
func TestCorruptHighWatermarkCheckpoint(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		for _, c := range checkpointDamage {
			t.Run(c.name, func(t *testing.T) {
				dir := filepath.Join(dir, c.name)
				cfg := checkpointedLog(t, fsys, dir, func(l *Log) { appendN(t, l, 3, 1, 0) })
				name := filepath.Join(dir, hwFile)
				writeFileFS(t, fsys, name, c.damage("0\n1\nt 0 2\n"))
				d, _, rec := reopen(t, fsys, dir, cfg)
				if _, ok := rec.find(slog.LevelWarn, "corrupt replication-offset"); !ok {
					t.Fatal("no warning about the corrupt checkpoint")
				}
				if hw, ok := d.HighWatermark("t", 0); ok {
					t.Fatalf("HW %d read from a corrupt checkpoint", hw)
				}
			})
		}
	})
}

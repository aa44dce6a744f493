package replica

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/riffle/riffle/segment/vfs"
)

// sampleStates has two producers, one with a full batch history.
func sampleStates() *producerStates {
	s := sixBatches()
	other := pbatch(9, 100, 3, 12)
	other.producerID = 1 << 40
	s.record(other)
	return s
}

func TestSnapshotRoundTrip(t *testing.T) {
	for _, s := range []*producerStates{newProducerStates(), sampleStates()} {
		b := encodeSnapshot(15, s)
		off, got, err := decodeSnapshot(b)
		if err != nil {
			t.Fatal(err)
		}
		if off != 15 || !reflect.DeepEqual(got, s) {
			t.Fatalf("decoded offset %d state %+v, want 15 %+v", off, got, s)
		}
	}
}

// A version 1 snapshot (no coordinator epochs) still loads, with none.
func TestSnapshotVersion1(t *testing.T) {
	want := sampleStates()
	for _, e := range want.byID {
		e.coordinatorEpoch = 7
	}
	v2 := encodeSnapshot(15, want)
	v1 := slices.Clone(v2[:snapshotHeaderSize])
	binary.BigEndian.PutUint16(v1, 1)
	rest := v2[snapshotHeaderSize:]
	for range want.byID {
		n := int(rest[snapshotEntrySize-1])
		v1 = append(v1, rest[:10]...)
		v1 = append(v1, rest[snapshotEntrySize-1:snapshotEntrySize+n*snapshotBatchSize]...)
		rest = rest[snapshotEntrySize+n*snapshotBatchSize:]
	}
	off, got, err := decodeSnapshot(reseal(v1))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range want.byID {
		e.coordinatorEpoch = -1
	}
	if off != 15 || !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded offset %d state %+v, want 15 %+v", off, got, want)
	}
}

func TestSnapshotCorruptionDetected(t *testing.T) {
	b := encodeSnapshot(15, sampleStates())
	for i := range b {
		for _, bit := range []byte{0x01, 0x80} {
			c := slices.Clone(b)
			c[i] ^= bit
			if _, _, err := decodeSnapshot(c); !errors.Is(err, errCorruptSnapshot) {
				t.Fatalf("flip %#x at byte %d: err = %v, want corrupt", bit, i, err)
			}
		}
	}
	for n := range len(b) {
		if _, _, err := decodeSnapshot(b[:n]); !errors.Is(err, errCorruptSnapshot) {
			t.Fatalf("truncated to %d bytes: err = %v, want corrupt", n, err)
		}
	}
}

// reseal recomputes the CRC, so that the checks behind it can be reached.
func reseal(b []byte) []byte {
	binary.BigEndian.PutUint32(b[2:], crc32.Checksum(b[snapshotCRCStart:], castagnoli))
	return b
}

func TestSnapshotRejectsInconsistentContent(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(b []byte) []byte
	}{
		{"version", func(b []byte) []byte { b[1] = 3; return reseal(b) }},
		{"count beyond bytes", func(b []byte) []byte { binary.BigEndian.PutUint32(b[14:], 1000); return reseal(b) }},
		{"batch at snapshot offset", func(b []byte) []byte { binary.BigEndian.PutUint64(b[6:], 11); return reseal(b) }},
		{"trailing bytes", func(b []byte) []byte { return reseal(append(b, 0)) }},
		{"too many batches", func(b []byte) []byte { b[snapshotHeaderSize+snapshotEntrySize-1] = 6; return reseal(b) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.mutate(encodeSnapshot(15, sampleStates()))
			if _, _, err := decodeSnapshot(b); !errors.Is(err, errCorruptSnapshot) {
				t.Fatalf("err = %v, want corrupt", err)
			}
		})
	}
}

func TestSnapshotFiles(t *testing.T) {
	dir := t.TempDir()
	snaps := snapshotDir{vfs.OS, dir}
	stale := filepath.Join(dir, "00000000000000000007.snapshot.tmp")
	if err := os.WriteFile(stale, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{3, 12, 5, 40} {
		if err := snaps.write(off, encodeSnapshot(off, newProducerStates())); err != nil {
			t.Fatal(err)
		}
	}
	offsets, err := snaps.list()
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{40, 12, 5}; !slices.Equal(offsets, want) {
		t.Fatalf("snapshots = %v, want %v (newest %d kept)", offsets, want, snapshotsKept)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temporary file still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000040.snapshot")); err != nil {
		t.Fatalf("Kafka's file name: %v", err)
	}
	if _, err := snaps.read(12); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(snapshotPath(dir, 12), snapshotPath(dir, 13)); err != nil {
		t.Fatal(err)
	}
	if _, err := snaps.read(13); !errors.Is(err, errCorruptSnapshot) {
		t.Fatalf("offset not matching the name: err = %v, want corrupt", err)
	}
}

// The removal of snapshots above an offset is durable: after power loss
// they stay gone.
func TestSnapshotRemoveAboveIsDurable(t *testing.T) {
	mem := vfs.NewMemFS()
	if err := errors.Join(mem.MkdirAll("/p", 0o755), mem.SyncDir("/")); err != nil {
		t.Fatal(err)
	}
	snaps := snapshotDir{mem, "/p"}
	for _, off := range []int64{3, 6} {
		if err := snaps.write(off, encodeSnapshot(off, newProducerStates())); err != nil {
			t.Fatal(err)
		}
	}
	if err := snaps.removeAbove(4); err != nil {
		t.Fatal(err)
	}
	offsets, err := snapshotDir{mem.CrashClone(), "/p"}.list()
	if err != nil || !slices.Equal(offsets, []int64{3}) {
		t.Fatalf("after power loss snapshots %v (%v), want [3]", offsets, err)
	}
}

func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(encodeSnapshot(15, sampleStates()))
	f.Add(encodeSnapshot(0, newProducerStates()))
	f.Fuzz(func(t *testing.T, b []byte) {
		off, s, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		if again := encodeSnapshot(off, s); !slices.Equal(again, b) {
			t.Fatalf("accepted snapshot does not re-encode to itself")
		}
	})
}

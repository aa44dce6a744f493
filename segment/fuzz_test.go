package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"os"
	"sort"
	"sync"
	"testing"

	"github.com/riffle/riffle/segment/vfs"
)

func FuzzValidateBatch(f *testing.F) {
	for seq := range 6 {
		b := workloadBatch(seq * 7)
		f.Add(b, int32(1<<20))
		f.Add(b, int32(len(b)-1))
		f.Add(b[:len(b)-1], int32(1<<20))
		f.Add(b[:BatchHeaderSize], int32(1<<20))
		flipped := bytes.Clone(b)
		flipped[len(b)/2] ^= 0x10
		f.Add(flipped, int32(1<<20))
	}
	f.Fuzz(func(t *testing.T, b []byte, maxBytes int32) {
		v, err := ValidateBatch(b, maxBytes)
		h := v.Header()
		if err != nil {
			if !errors.Is(err, ErrCorruptBatch) && !errors.Is(err, ErrBatchTooLarge) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		ph, perr := ParseBatchHeader(b)
		switch {
		case len(v.Bytes()) != len(b):
			t.Fatalf("validated %d bytes of %d", len(v.Bytes()), len(b))
		case perr != nil || ph != h:
			t.Fatalf("header %+v, parsed again %+v %v", h, ph, perr)
		case h.Size() != int64(len(b)) || int64(len(b)) > int64(maxBytes):
			t.Fatalf("accepted %d bytes with length field %d, limit %d", len(b), h.Length, maxBytes)
		case h.Magic != 2:
			t.Fatalf("accepted magic %d", h.Magic)
		case h.RecordCount <= 0 || int64(h.LastOffsetDelta)+1 != int64(h.RecordCount):
			t.Fatalf("accepted %d records with lastOffsetDelta %d", h.RecordCount, h.LastOffsetDelta)
		case crc32.Checksum(b[offAttributes:], castagnoli) != h.CRC:
			t.Fatalf("accepted a wrong CRC %08x", h.CRC)
		}
		// Offset assignment and LogAppendTime stamping keep a batch valid.
		c := bytes.Clone(b)
		SetBaseOffset(c, 1<<40)
		SetPartitionLeaderEpoch(c, 9)
		SetLogAppendTime(c, 12345)
		if _, err := ValidateBatch(c, maxBytes); err != nil {
			t.Fatalf("restamped batch rejected: %v", err)
		}
	})
}

// FuzzValidateBatches: the follower's validator returns whole, valid
// batches that are a prefix of its input, and without an error it leaves
// only a partial batch.
func FuzzValidateBatches(f *testing.F) {
	var all []byte
	for seq := range 4 {
		all = append(all, workloadBatch(seq*5)...)
	}
	f.Add(all, int32(1<<20))
	f.Add(all[:len(all)-7], int32(1<<20))
	f.Add(all, int32(200))
	flipped := bytes.Clone(all)
	flipped[len(all)/2] ^= 0x10
	f.Add(flipped, int32(1<<20))
	f.Fuzz(func(t *testing.T, records []byte, maxBytes int32) {
		batches, err := ValidateBatches(records, maxBytes)
		rest := records
		for i, v := range batches {
			b := v.Bytes()
			if len(b) > len(rest) || !bytes.Equal(b, rest[:len(b)]) {
				t.Fatalf("batch %d is not the next %d bytes of the input", i, len(b))
			}
			if _, err := ValidateBatch(b, maxBytes); err != nil {
				t.Fatalf("batch %d returned but invalid: %v", i, err)
			}
			rest = rest[len(b):]
		}
		if err != nil {
			if !errors.Is(err, ErrCorruptBatch) && !errors.Is(err, ErrBatchTooLarge) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		if len(rest) >= BatchHeaderSize {
			if h, _ := ParseBatchHeader(rest); h.Size() <= int64(len(rest)) {
				t.Fatalf("a whole %d-byte batch left unvalidated", h.Size())
			}
		}
	})
}

const recoveryBatches = 40

// recoveryImage is a data directory on a MemFS after power loss: one
// segment holding recoveryBatches workload batches, all flushed, no
// clean-shutdown marker. Fuzz runs damage clones of it.
var recoveryImage = sync.OnceValues(func() (*vfs.MemFS, error) {
	mem := vfs.NewMemFS()
	if err := mem.MkdirAll("/data", 0o755); err != nil {
		return nil, err
	}
	if err := mem.SyncDir("/"); err != nil {
		return nil, err
	}
	cfg := crashConfig(false)
	d, err := OpenDataDir("/data", func(string) Config { return cfg }, Options{FS: mem, Logger: quietLogger})
	if err != nil {
		return nil, err
	}
	l, err := d.CreateLog(crashTopic, 0, cfg)
	if err != nil {
		return nil, err
	}
	for seq := range recoveryBatches {
		if _, err := l.Append(valid(workloadBatch(seq)), crashEpoch); err != nil {
			return nil, err
		}
	}
	if err := l.Flush(); err != nil {
		return nil, err
	}
	if l.SegmentCount() != 1 {
		return nil, errors.New("recovery image must be one segment: recovery rescans only from the recovery point's segment")
	}
	return mem.CrashClone(), nil
})

// FuzzRecovery truncates the segment's .log at cut (when below its size)
// and flips the bits that each 4 bytes of flips name, then reopens: no
// panic, every batch served valid, the batches before the first damaged
// byte all kept, and nothing kept that was not appended (the offset and
// leader-epoch fields lie outside the CRC, so damage there may survive).
func FuzzRecovery(f *testing.F) {
	f.Add(uint32(1<<31), []byte(nil))
	f.Add(uint32(5000), []byte(nil))
	f.Add(uint32(1<<31), []byte{0, 0, 0x30, 0x05})
	f.Add(uint32(20000), []byte{0, 0, 0, 3, 0, 0, 0x40, 0})
	// Fields outside the CRC of batch 3: baseOffset's sign bit, baseOffset
	// +16 (a gap), partitionLeaderEpoch.
	pos := uint32(workloadOffsetBytes(3))
	for _, bit := range []uint32{pos*8 + 7, (pos+7)*8 + 4, (pos+offLeaderEpoch+3)*8 + 1} {
		f.Add(uint32(1<<31), binary.BigEndian.AppendUint32(nil, bit))
	}
	f.Fuzz(func(t *testing.T, cut uint32, flips []byte) {
		image, err := recoveryImage()
		if err != nil {
			t.Fatalf("build recovery image: %v", err)
		}
		mem := image.CrashClone()
		damaged := damageFile(t, mem, segmentPath("/data/"+crashTopic+"-0", 0, logSuffix), int64(cut), flips)

		_, l := openCrashLog(t, "/data", crashConfig(false), mem)
		got := readAllBatches(t, l)
		intact := 0
		for intact < recoveryBatches && workloadOffsetBytes(intact+1) <= damaged {
			intact++
		}
		if len(got) < intact || len(got) > recoveryBatches {
			t.Fatalf("recovered %d batches, want %d..%d (first damaged byte %d)", len(got), intact, recoveryBatches, damaged)
		}
		for i, b := range got {
			want := wantStored(i)
			if i < intact && !bytes.Equal(b, want) {
				t.Fatalf("undamaged batch %d changed", i)
			}
			if !bytes.Equal(b[offMagic:], want[offMagic:]) || !bytes.Equal(b[offLength:offLeaderEpoch], want[offLength:offLeaderEpoch]) {
				t.Fatalf("kept batch %d was never appended", i)
			}
		}
	})
}

// workloadOffsetBytes is the byte position in the log where batch n starts.
func workloadOffsetBytes(n int) int64 {
	var pos int64
	for i := range n {
		pos += int64(len(workloadBatch(i)))
	}
	return pos
}

// cleanImage is recoveryImage's log after a clean Close: a clean open
// trusts its indexes.
var cleanImage = sync.OnceValues(func() (*vfs.MemFS, error) {
	image, err := recoveryImage()
	if err != nil {
		return nil, err
	}
	mem := image.CrashClone()
	cfg := crashConfig(false)
	d, err := OpenDataDir("/data", func(string) Config { return cfg }, Options{FS: mem, Logger: quietLogger})
	if err != nil {
		return nil, err
	}
	if err := d.Close(); err != nil {
		return nil, err
	}
	return mem.CrashClone(), nil
})

// FuzzIndexDamage flips bits in the .index or .timeindex of a cleanly
// closed log, as a bad disk could, and opens it: the open and any Read may
// fail or serve nothing, but no panic, whatever is served (by Read or
// ScanBatches) is the batch appended that holds the offset asked, and
// OffsetForTimestamp answers as a brute-force search of the records does.
func FuzzIndexDamage(f *testing.F) {
	f.Add(false, []byte{0, 0, 0, 3})
	f.Add(true, []byte{0, 0, 0, 70})
	f.Add(false, []byte{0, 0, 1, 0, 0, 0, 0, 33})
	f.Fuzz(func(t *testing.T, timeIndex bool, flips []byte) {
		image, err := cleanImage()
		if err != nil {
			t.Fatalf("build clean image: %v", err)
		}
		mem := image.CrashClone()
		suffix := indexSuffix
		if timeIndex {
			suffix = timeIndexSuffix
		}
		damageFile(t, mem, segmentPath("/data/"+crashTopic+"-0", 0, suffix), math.MaxInt64, flips)
		d, err := OpenDataDir("/data", func(string) Config { return crashConfig(false) }, Options{FS: mem, Logger: quietLogger})
		if err != nil {
			return
		}
		l := d.Log(crashTopic, 0)
		if l == nil {
			t.Fatal("log missing after a clean open")
		}
		errFirst := errors.New("first batch seen")
		for off := l.LogStartOffset(); off < l.LogEndOffset(); off++ {
			err := l.ScanBatches(off, func(h BatchHeader) error {
				if off < h.BaseOffset || off > h.LastOffset() {
					t.Fatalf("scan from %d starts at batch %d..%d", off, h.BaseOffset, h.LastOffset())
				}
				return errFirst
			})
			if err != nil && !errors.Is(err, errFirst) {
				continue // refusing is fine
			}
			r, err := l.Read(off, 1, l.LogEndOffset(), true)
			if err != nil || r.Len == 0 {
				continue // refusing is fine; serving the wrong bytes is not
			}
			b := make([]byte, r.Len)
			_, err = r.File.ReadAt(b, r.Pos)
			r.Release()
			if err != nil {
				t.Fatal(err)
			}
			v, err := ValidateBatch(b, 1<<30)
			h := v.Header()
			if err != nil || off < h.BaseOffset || off > h.LastOffset() {
				t.Fatalf("read %d served a region that is not the batch holding it: %+v %v", off, h, err)
			}
			seq := sort.Search(recoveryBatches, func(i int) bool { return workloadOffset(i+1) > off })
			if !bytes.Equal(b, wantStored(seq)) {
				t.Fatalf("read %d served a batch never appended there", off)
			}
		}
		// Every record timestamp, and one below and above them all.
		checkOffsetsForTimestamps(t, l, storedBatches(), workloadTimestamp-1, workloadTimestamp+recoveryBatches+5)
	})
}

// storedBatches are recoveryImage's batches as stored.
var storedBatches = sync.OnceValue(func() [][]byte {
	batches := make([][]byte, recoveryBatches)
	for seq := range batches {
		batches[seq] = wantStored(seq)
	}
	return batches
})

// damageFile truncates file name at cut (when below its size), flips the
// bit that each 4 bytes of flips name, and returns the position of the
// first damaged byte (the size when undamaged).
func damageFile(t *testing.T, fsys vfs.FS, name string, cut int64, flips []byte) int64 {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		t.Fatal(err)
	}
	if cut < size {
		if err := f.Truncate(cut); err != nil {
			t.Fatal(err)
		}
		size = cut
	}
	first := size
	for ; len(flips) >= 4 && size > 0; flips = flips[4:] {
		bit := int64(binary.BigEndian.Uint32(flips)) % (size * 8)
		var b [1]byte
		if _, err := f.ReadAt(b[:], bit/8); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 1 << (bit % 8)
		if _, err := f.WriteAt(b[:], bit/8); err != nil {
			t.Fatal(err)
		}
		first = min(first, bit/8)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	return first
}

package segment

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/riffle/riffle/segment/codec"
	"github.com/riffle/riffle/segment/codec/codectest"
)

// compressBatch returns uncompressed batch b (from EncodeBatch) with its
// records section replaced by records, compressed with codec id: attributes,
// length and CRC set to match.
func compressBatch(t testing.TB, b []byte, id int8, records []byte) []byte {
	t.Helper()
	out := append(b[:BatchHeaderSize:BatchHeaderSize], codectest.Compress(t, id, records)...)
	be := binary.BigEndian
	be.PutUint32(out[offLength:], uint32(len(out)-batchOverhead))
	be.PutUint16(out[offAttributes:], be.Uint16(out[offAttributes:])|uint16(codectest.WireID(id)))
	be.PutUint32(out[offCRC:], crc32.Checksum(out[offAttributes:], castagnoli))
	return out
}

// Timestamp deltas of the compressed test batch: out of order, the maximum
// (9) first at index 3 and again at 5.
var tsDeltas = []int64{0, 5, 3, 9, 2, 9, 7}

// unorderedBatch is an uncompressed batch at base timestamp ts with tsDeltas.
func unorderedBatch(ts int64) []byte {
	recs := make([]Record, len(tsDeltas))
	for i, d := range tsDeltas {
		recs[i] = Record{Key: []byte{byte(i)}, Value: []byte("a value that compresses, compresses, compresses"), TimestampDelta: d,
			Headers: []RecordHeader{{Key: "h", Value: []byte{byte(i)}}}}
	}
	return EncodeBatch(nil, BatchSpec{BaseTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
}

func TestEachRecordTimeCompressed(t *testing.T) {
	plain := unorderedBatch(1000)
	h, _ := ParseBatchHeader(plain)
	var want [][2]int64
	if err := eachRecordTime(plain, h, 0, func(o, ts int64) bool { want = append(want, [2]int64{o, ts}); return true }); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(tsDeltas) || want[3] != [2]int64{3, 1009} {
		t.Fatalf("uncompressed walk %v", want)
	}
	for _, id := range codectest.Compressed {
		b := compressBatch(t, plain, id, plain[BatchHeaderSize:])
		v, err := ValidateBatch(b, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		h := v.Header()
		var got [][2]int64
		if err := eachRecordTime(b, h, 1<<20, func(o, ts int64) bool { got = append(got, [2]int64{o, ts}); return true }); err != nil {
			t.Fatalf("codec %d: %v", id, err)
		}
		if len(got) != len(want) || got[6] != want[6] || got[3] != want[3] {
			t.Errorf("codec %d: walked %v, want %v", id, got, want)
		}
		if off, resolved := maxTimestampOffset(b, h, 0); off != 6 || resolved {
			t.Errorf("codec %d without decompression: %d, %v; want the stand-in 6", id, off, resolved)
		}
		if off, resolved := maxTimestampOffset(b, h, 1<<20); off != 3 || !resolved {
			t.Errorf("codec %d: max timestamp offset %d, %v; want 3", id, off, resolved)
		}
		// Decompressed records past the limit: a decompression error.
		if err := eachRecordTime(b, h, 100, func(int64, int64) bool { return true }); !errors.Is(err, codec.ErrCorrupt) {
			t.Errorf("codec %d under a 100-byte limit: %v", id, err)
		}
		// Records cut short decompress but do not parse.
		cut := compressBatch(t, plain, id, plain[BatchHeaderSize:len(plain)-10])
		if err := eachRecordTime(cut, h, 1<<20, func(int64, int64) bool { return true }); !errors.Is(err, ErrCorruptBatch) {
			t.Errorf("codec %d, records cut short: %v", id, err)
		}
	}
}

// A log of an uncompressed batch (offsets 0-2, ts 500-502), a compressed one
// (offsets 3-9, ts 1000 + tsDeltas) and an uncompressed one (10-11, ts
// 900-901): lookups inside the compressed batch find the exact record,
// before and after a clean and an unclean restart.
func TestOffsetForTimestampCompressed(t *testing.T) {
	for _, id := range codectest.Compressed {
		e := newEnv(t, smallConfig())
		d, l := e.openLog()
		plain := unorderedBatch(1000)
		mustAppend(t, l, testBatch(500, 3))
		mustAppend(t, l, compressBatch(t, plain, id, plain[BatchHeaderSize:]))
		mustAppend(t, l, testBatch(900, 2))
		checkCompressedLookups(t, id, "appended", l)
		// Clean: indexes trusted, headers scanned. Unclean: records scanned.
		for _, restart := range []string{"clean restart", "unclean restart"} {
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			if restart == "unclean restart" {
				if err := os.Remove(filepath.Join(e.path, cleanShutdownFile)); err != nil {
					t.Fatal(err)
				}
			}
			d = e.open()
			l = d.Log("my.topic-x", 3)
			checkCompressedLookups(t, id, restart, l)
		}
		// Log start inside the batch: the first record at or above it.
		if err := l.AdvanceLogStart(5); err != nil {
			t.Fatal(err)
		}
		if off, ts, found, err := l.OffsetForTimestamp(1004); off != 6 || ts != 1009 || !found || err != nil {
			t.Errorf("codec %d, log start 5: OffsetForTimestamp(1004) = %d, %d, %v, %v; want 6, 1009", id, off, ts, found, err)
		}
		if off, ts := l.MaxTimestamp(); off != 6 || ts != 1009 {
			t.Errorf("codec %d, log start 5: MaxTimestamp = %d, %d; want 6, 1009", id, off, ts)
		}
		d.Close()
	}
}

func checkCompressedLookups(t *testing.T, id int8, when string, l *Log) {
	t.Helper()
	for _, c := range []struct {
		ts, offset, at int64
	}{
		{400, 0, 500},
		{600, 3, 1000},
		{1000, 3, 1000},
		{1001, 4, 1005},
		{1004, 4, 1005},
		{1006, 6, 1009},
		{1009, 6, 1009},
	} {
		off, ts, found, err := l.OffsetForTimestamp(c.ts)
		if err != nil || !found || off != c.offset || ts != c.at {
			t.Errorf("codec %d, %s: OffsetForTimestamp(%d) = %d, %d, %v, %v; want %d, %d", id, when, c.ts, off, ts, found, err, c.offset, c.at)
		}
	}
	if _, _, found, err := l.OffsetForTimestamp(1010); found || err != nil {
		t.Errorf("codec %d, %s: OffsetForTimestamp(1010) found %v, %v", id, when, found, err)
	}
	if off, ts := l.MaxTimestamp(); off != 6 || ts != 1009 {
		t.Errorf("codec %d, %s: MaxTimestamp = %d, %d; want 6, 1009", id, when, off, ts)
	}
}

// A batch whose records do not decompress (Append checks only the header
// and CRC; produce validation would refuse it) answers at batch level.
func TestCompressedGarbageBatchLevel(t *testing.T) {
	e := newEnv(t, smallConfig())
	d, l := e.openLog()
	defer d.Close()
	mustAppend(t, l, testBatch(500, 3))
	plain := unorderedBatch(1000)
	b := append(plain[:BatchHeaderSize:BatchHeaderSize], "not lz4 at all, not at all"...)
	be := binary.BigEndian
	be.PutUint32(b[offLength:], uint32(len(b)-batchOverhead))
	be.PutUint16(b[offAttributes:], uint16(codec.LZ4))
	be.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	mustAppend(t, l, b)
	if off, ts, found, err := l.OffsetForTimestamp(1004); off != 3 || ts != 1009 || !found || err != nil {
		t.Errorf("OffsetForTimestamp(1004) = %d, %d, %v, %v; want the batch's 3, 1009", off, ts, found, err)
	}
	if off, ts := l.MaxTimestamp(); off != 9 || ts != 1009 {
		t.Errorf("MaxTimestamp = %d, %d; want the batch's last offset 9, 1009", off, ts)
	}
}

// A compressed LogAppendTime batch: every record carries the append time.
func TestCompressedLogAppendTime(t *testing.T) {
	cfg := smallConfig()
	cfg.LogAppendTime = true
	e := newEnv(t, cfg)
	d, l := e.openLog()
	defer d.Close()
	mustAppend(t, l, testBatch(500, 3))
	e.clock.Advance(time.Second)
	now := e.clock.Ms()
	plain := unorderedBatch(1000)
	mustAppend(t, l, compressBatch(t, plain, codec.Zstd, plain[BatchHeaderSize:]))
	if off, ts, found, err := l.OffsetForTimestamp(now - 1); off != 3 || ts != now || !found || err != nil {
		t.Errorf("OffsetForTimestamp(now-1) = %d, %d, %v, %v; want 3, %d", off, ts, found, err, now)
	}
	if off, ts := l.MaxTimestamp(); off != 3 || ts != now {
		t.Errorf("MaxTimestamp = %d, %d; want 3, %d", off, ts, now)
	}
}

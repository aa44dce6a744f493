package kafka

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/riffle/riffle/segment"
	"github.com/riffle/riffle/segment/codec"
	"github.com/riffle/riffle/segment/codec/codectest"
)

// rawBatch builds a v2 batch around a records section as given (it may be
// malformed): codec id and count go in the header, the CRC is right.
func rawBatch(id int8, count int32, records []byte) []byte {
	b := segment.EncodeBatch(nil, segment.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]segment.Record{{Value: []byte("x")}})
	return withRecords(b, id, count, records)
}

// withRecords returns the header of batch b around records, with codec id,
// count, length and CRC set to match.
func withRecords(b []byte, id int8, count int32, records []byte) []byte {
	b = append(b[:segment.BatchHeaderSize:segment.BatchHeaderSize], records...)
	be := binary.BigEndian
	be.PutUint32(b[8:], uint32(len(b)-12))
	be.PutUint16(b[21:], be.Uint16(b[21:])|uint16(id&segment.AttrCompressionMask))
	be.PutUint32(b[23:], uint32(count-1))
	be.PutUint32(b[57:], uint32(count))
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// recordsOf returns the records section of an uncompressed batch of recs.
func recordsOf(recs []segment.Record) []byte {
	b := segment.EncodeBatch(nil, segment.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
	return b[segment.BatchHeaderSize:]
}

// compressedBatch builds a batch of recs compressed with codec id.
func compressedBatch(t testing.TB, id int8, recs []segment.Record) []byte {
	return compressedBatchAt(t, id, 0, recs)
}

// compressedBatchAt builds a batch of recs at base timestamp ts (its max
// timestamp set from the records) compressed with codec id.
func compressedBatchAt(t testing.TB, id int8, ts int64, recs []segment.Record) []byte {
	b := segment.EncodeBatch(nil, segment.BatchSpec{BaseTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
	return withRecords(b, codectest.WireID(id), int32(len(recs)), codectest.Compress(t, id, b[segment.BatchHeaderSize:]))
}

func testRecords(n int) []segment.Record {
	recs := make([]segment.Record, n)
	for i := range recs {
		recs[i] = segment.Record{
			Key:            []byte{byte(i)},
			Value:          bytes.Repeat([]byte("value "), i),
			Headers:        []segment.RecordHeader{{Key: "h", Value: []byte("v")}, {Key: "null"}},
			TimestampDelta: int64(i),
		}
	}
	recs[0].Key = nil
	return recs
}

func checkRecords(t *testing.T, batch []byte, decompress bool) error {
	t.Helper()
	v, err := segment.ValidateBatch(batch, 1<<20)
	if err != nil {
		t.Fatalf("test batch invalid: %v", err)
	}
	return validateRecords(v, 1<<20, decompress, false)
}

var allCodecs = append([]int8{codec.None}, codectest.Compressed...)

func TestValidateRecordsEveryCodec(t *testing.T) {
	for _, id := range allCodecs {
		for _, n := range []int{1, 3, 500} {
			if err := checkRecords(t, compressedBatch(t, id, testRecords(n)), true); err != nil {
				t.Errorf("codec %d, %d records: %v", id, n, err)
			}
		}
		// The header claims one record more than the payload holds.
		raw := recordsOf(testRecords(3))
		short := rawBatch(codectest.WireID(id), 4, codectest.Compress(t, id, raw))
		if err := checkRecords(t, short, true); !errors.Is(err, errInvalidRecord) {
			t.Errorf("codec %d, count too large: %v", id, err)
		}
		long := rawBatch(codectest.WireID(id), 2, codectest.Compress(t, id, raw))
		if err := checkRecords(t, long, true); !errors.Is(err, errInvalidRecord) {
			t.Errorf("codec %d, count too small: %v", id, err)
		}
		if id != codec.None {
			if err := checkRecords(t, long, false); err != nil {
				t.Errorf("codec %d without decompression: %v", id, err)
			}
		}
	}
}

func TestValidateRecordsMalformed(t *testing.T) {
	good := recordsOf(testRecords(2))
	varint := func(vs ...int64) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.AppendVarint(b, v)
		}
		return b
	}
	record := func(fields []byte) []byte { return append(varint(int64(len(fields))), fields...) }
	for name, tc := range map[string]struct {
		count   int32
		records []byte
		index   int32
	}{
		"trailing byte":        {2, append(bytes.Clone(good), 0), -1},
		"truncated":            {2, good[:len(good)-1], 1},
		"empty":                {1, nil, 0},
		"offset delta":         {1, record(append([]byte{0}, varint(0, 1, -1, -1, 0)...)), 0},
		"key past record":      {1, record(append([]byte{0}, varint(0, 0, 9, -1, 0)...)), 0},
		"negative key length":  {1, record(append([]byte{0}, varint(0, 0, -2, -1, 0)...)), 0},
		"null header key":      {1, record(append([]byte{0}, varint(0, 0, -1, -1, 1, -1, -1)...)), 0},
		"header count too big": {1, record(append([]byte{0}, varint(0, 0, -1, -1, 1000)...)), 0},
		"negative headers":     {1, record(append([]byte{0}, varint(0, 0, -1, -1, -1)...)), 0},
		"bytes left in record": {1, record(append([]byte{0}, varint(0, 0, -1, -1, 0, 0)...)), 0},
		"record length tiny":   {1, varint(2, 0, 0), 0},
		"record length huge":   {1, varint(1 << 40), 0},
		"varint overflow":      {1, bytes.Repeat([]byte{0xff}, 12), 0},
	} {
		err := checkRecords(t, rawBatch(codec.None, tc.count, tc.records), true)
		var re *recordError
		if !errors.As(err, &re) || re.index != tc.index {
			t.Errorf("%s: got %v, want an invalid record at index %d", name, err, tc.index)
		}
	}
}

func TestValidateRecordsCorruptCompressed(t *testing.T) {
	garbage := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 16)
	for _, id := range []int8{codec.Gzip, codec.Snappy, codec.LZ4, codec.Zstd} {
		if err := checkRecords(t, rawBatch(id, 1, garbage), true); !errors.Is(err, codec.ErrCorrupt) {
			t.Errorf("codec %d garbage: %v", id, err)
		}
		// Cut short after a valid start.
		whole := codectest.Compress(t, id, recordsOf(testRecords(50)))
		if err := checkRecords(t, rawBatch(id, 50, whole[:len(whole)/2]), true); err == nil {
			t.Errorf("codec %d truncated: accepted", id)
		}
	}
	if err := checkRecords(t, rawBatch(5, 1, garbage), true); !errors.Is(err, codec.ErrUnsupported) {
		t.Errorf("codec 5: %v", err)
	}
}

// A small batch that decompresses to far more than the limit is refused
// before it is all decompressed.
func TestValidateRecordsZipBomb(t *testing.T) {
	huge := []segment.Record{{Value: make([]byte, 8<<20)}}
	for _, id := range []int8{codec.Gzip, codec.Snappy, codectest.PlainSnappy, codec.LZ4, codec.Zstd} {
		batch := compressedBatch(t, id, huge)
		v, err := segment.ValidateBatch(batch, 1<<20)
		if err != nil {
			t.Fatalf("codec %d: %d-byte batch: %v", id, len(batch), err)
		}
		// 64 KiB max.message.bytes: at most 4 MiB decompressed.
		if err := validateRecords(v, 64<<10, true, false); !errors.Is(err, codec.ErrCorrupt) {
			t.Errorf("codec %d: %v", id, err)
		}
		if err := validateRecords(v, 1<<20, true, false); err != nil {
			t.Errorf("codec %d under a 64 MiB limit: %v", id, err)
		}
	}
}

func FuzzRecordWalk(f *testing.F) {
	f.Add(int8(codec.None), int32(2), recordsOf(testRecords(2)))
	for _, id := range allCodecs[1:] {
		f.Add(codectest.WireID(id), int32(3), codectest.Compress(f, id, recordsOf(testRecords(3))))
	}
	f.Fuzz(func(t *testing.T, id int8, count int32, records []byte) {
		if count <= 0 {
			return
		}
		batch := rawBatch(id&7, count, records)
		v, err := segment.ValidateBatch(batch, 1<<30)
		if err != nil {
			t.Fatalf("test batch invalid: %v", err)
		}
		err = validateRecords(v, 1<<16, true, false)
		if err != nil && !errors.Is(err, errInvalidRecord) && !errors.Is(err, codec.ErrCorrupt) &&
			!errors.Is(err, codec.ErrUnsupported) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		if err == nil && v.Header().Compression() == codec.None && count > int32(len(records))/7 {
			t.Fatalf("%d records accepted in %d bytes", count, len(records))
		}
	})
}

// BenchmarkValidateRecords walks a batch of 1000 records of ~100 bytes and
// of 1 KiB, as produce validation does, per codec (bytes/s are
// decompressed bytes).
func BenchmarkValidateRecords(b *testing.B) {
	for _, valueBytes := range []int{90, 1024} {
		recs := make([]segment.Record, 1000)
		for i := range recs {
			recs[i] = segment.Record{Key: []byte("key-0000"), Value: bytes.Repeat([]byte{byte('a' + i%26)}, valueBytes)}
		}
		raw := len(recordsOf(recs))
		for _, id := range allCodecs {
			batch := compressedBatch(b, id, recs)
			v, err := segment.ValidateBatch(batch, 1<<21)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("value=%d/codec=%d", valueBytes, id), func(b *testing.B) {
				b.SetBytes(int64(raw))
				for b.Loop() {
					if err := validateRecords(v, 1<<21, true, false); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

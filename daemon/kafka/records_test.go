package kafka

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/snappy/xerial"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/riffle/riffle/segment"
)

// codecPlainSnappy is a test-only codec id: snappy without xerial framing,
// sent with codec id 2 on the wire.
const codecPlainSnappy = 100

func compressRecords(t testing.TB, codec int8, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch codec {
	case codecNone:
		return raw
	case codecGzip:
		w := gzip.NewWriter(&buf)
		w.Write(raw)
		w.Close()
	case codecSnappy:
		return xerial.Encode(nil, raw)
	case codecPlainSnappy:
		return snappy.Encode(nil, raw)
	case codecLZ4:
		w := lz4.NewWriter(&buf)
		w.Write(raw)
		w.Close()
	case codecZstd:
		enc, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		return enc.EncodeAll(raw, nil)
	default:
		t.Fatalf("codec %d", codec)
	}
	return buf.Bytes()
}

// rawBatch builds a v2 batch around a records section as given (it may be
// malformed): codec and count go in the header, the CRC is right.
func rawBatch(codec int8, count int32, records []byte) []byte {
	b := segment.EncodeBatch(nil, segment.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]segment.Record{{Value: []byte("x")}})
	b = append(b[:segment.BatchHeaderSize], records...)
	be := binary.BigEndian
	be.PutUint32(b[8:], uint32(len(b)-12))
	be.PutUint16(b[21:], be.Uint16(b[21:])|uint16(codec&segment.AttrCompressionMask))
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

// wireCodec is the codec id a test codec goes out with.
func wireCodec(codec int8) int8 {
	if codec == codecPlainSnappy {
		return codecSnappy
	}
	return codec
}

// compressedBatch builds a batch of recs compressed with codec.
func compressedBatch(t testing.TB, codec int8, recs []segment.Record) []byte {
	return rawBatch(wireCodec(codec), int32(len(recs)),
		compressRecords(t, codec, recordsOf(recs)))
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
	h, err := segment.ValidateBatch(batch, 1<<20)
	if err != nil {
		t.Fatalf("test batch invalid: %v", err)
	}
	return validateRecords(h, batch, 1<<20, decompress)
}

var allCodecs = []int8{codecNone, codecGzip, codecSnappy, codecPlainSnappy, codecLZ4, codecZstd}

func TestValidateRecordsEveryCodec(t *testing.T) {
	for _, codec := range allCodecs {
		for _, n := range []int{1, 3, 500} {
			if err := checkRecords(t, compressedBatch(t, codec, testRecords(n)), true); err != nil {
				t.Errorf("codec %d, %d records: %v", codec, n, err)
			}
		}
		// The header claims one record more than the payload holds.
		raw := recordsOf(testRecords(3))
		short := rawBatch(wireCodec(codec), 4, compressRecords(t, codec, raw))
		if err := checkRecords(t, short, true); !errors.Is(err, errInvalidRecord) {
			t.Errorf("codec %d, count too large: %v", codec, err)
		}
		long := rawBatch(wireCodec(codec), 2, compressRecords(t, codec, raw))
		if err := checkRecords(t, long, true); !errors.Is(err, errInvalidRecord) {
			t.Errorf("codec %d, count too small: %v", codec, err)
		}
		if codec != codecNone {
			if err := checkRecords(t, long, false); err != nil {
				t.Errorf("codec %d without decompression: %v", codec, err)
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
		err := checkRecords(t, rawBatch(codecNone, tc.count, tc.records), true)
		var re *recordError
		if !errors.As(err, &re) || re.index != tc.index {
			t.Errorf("%s: got %v, want an invalid record at index %d", name, err, tc.index)
		}
	}
}

func TestValidateRecordsCorruptCompressed(t *testing.T) {
	garbage := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 16)
	for _, codec := range []int8{codecGzip, codecSnappy, codecLZ4, codecZstd} {
		if err := checkRecords(t, rawBatch(codec, 1, garbage), true); !errors.Is(err, errCorruptRecords) {
			t.Errorf("codec %d garbage: %v", codec, err)
		}
		// Cut short after a valid start.
		whole := compressRecords(t, codec, recordsOf(testRecords(50)))
		if err := checkRecords(t, rawBatch(codec, 50, whole[:len(whole)/2]), true); err == nil {
			t.Errorf("codec %d truncated: accepted", codec)
		}
	}
	xerialTruncated := append(append([]byte(nil), xerialMagic...), 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 5)
	if err := checkRecords(t, rawBatch(codecSnappy, 1, xerialTruncated), true); !errors.Is(err, errCorruptRecords) {
		t.Errorf("xerial chunk past the end: %v", err)
	}
	if err := checkRecords(t, rawBatch(5, 1, garbage), true); !errors.Is(err, errUnsupportedCompression) {
		t.Errorf("codec 5: %v", err)
	}
}

// A small batch that decompresses to far more than the limit is refused
// before it is all decompressed.
func TestValidateRecordsZipBomb(t *testing.T) {
	huge := []segment.Record{{Value: make([]byte, 8<<20)}}
	for _, codec := range []int8{codecGzip, codecSnappy, codecPlainSnappy, codecLZ4, codecZstd} {
		batch := compressedBatch(t, codec, huge)
		h, err := segment.ValidateBatch(batch, 1<<20)
		if err != nil {
			t.Fatalf("codec %d: %d-byte batch: %v", codec, len(batch), err)
		}
		// 64 KiB max.message.bytes: at most 4 MiB decompressed.
		if err := validateRecords(h, batch, 64<<10, true); !errors.Is(err, errCorruptRecords) {
			t.Errorf("codec %d: %v", codec, err)
		}
		if err := validateRecords(h, batch, 1<<20, true); err != nil {
			t.Errorf("codec %d under a 64 MiB limit: %v", codec, err)
		}
	}
}

func TestBoundedReaderExactLimit(t *testing.T) {
	data := bytes.Repeat([]byte("a"), 100)
	for limit, wantErr := range map[int64]bool{99: true, 100: false, 101: false} {
		r := &boundedReader{r: bytes.NewReader(data), left: limit}
		var out bytes.Buffer
		_, err := out.ReadFrom(r)
		if (err != nil) != wantErr || (!wantErr && out.Len() != 100) {
			t.Errorf("limit %d: %d bytes, err %v", limit, out.Len(), err)
		}
	}
}

func FuzzRecordWalk(f *testing.F) {
	f.Add(int8(codecNone), int32(2), recordsOf(testRecords(2)))
	for _, codec := range allCodecs[1:] {
		f.Add(wireCodec(codec), int32(3), compressRecords(f, codec, recordsOf(testRecords(3))))
	}
	f.Fuzz(func(t *testing.T, codec int8, count int32, records []byte) {
		if count <= 0 {
			return
		}
		batch := rawBatch(codec&7, count, records)
		h, err := segment.ValidateBatch(batch, 1<<30)
		if err != nil {
			t.Fatalf("test batch invalid: %v", err)
		}
		err = validateRecords(h, batch, 1<<16, true)
		if err != nil && !errors.Is(err, errInvalidRecord) && !errors.Is(err, errCorruptRecords) &&
			!errors.Is(err, errUnsupportedCompression) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		if err == nil && h.Compression() == codecNone && count > int32(len(records))/7 {
			t.Fatalf("%d records accepted in %d bytes", count, len(records))
		}
	})
}

// BenchmarkValidateRecords walks a batch of 1000 records of ~100 bytes, as
// produce validation does, per codec (bytes/s are decompressed bytes).
func BenchmarkValidateRecords(b *testing.B) {
	recs := make([]segment.Record, 1000)
	for i := range recs {
		recs[i] = segment.Record{Key: []byte("key-0000"), Value: bytes.Repeat([]byte{byte('a' + i%26)}, 90)}
	}
	raw := len(recordsOf(recs))
	for _, codec := range allCodecs {
		batch := compressedBatch(b, codec, recs)
		h, err := segment.ValidateBatch(batch, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("codec=%d", codec), func(b *testing.B) {
			b.SetBytes(int64(raw))
			for b.Loop() {
				if err := validateRecords(h, batch, 1<<20, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

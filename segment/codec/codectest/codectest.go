// Package codectest compresses records sections for tests of code that
// reads compressed batches (the broker only decompresses).
package codectest

import (
	"bytes"
	"io"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/snappy/xerial"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/riffle/riffle/segment/codec"
)

// PlainSnappy is a test-only codec id: snappy without xerial framing, sent
// with codec id codec.Snappy on the wire (WireID).
const PlainSnappy int8 = 100

// Compressed lists every codec id Compress knows, except None.
var Compressed = []int8{codec.Gzip, codec.Snappy, PlainSnappy, codec.LZ4, codec.Zstd}

// WireID is the codec id a batch compressed with id carries.
func WireID(id int8) int8 {
	if id == PlainSnappy {
		return codec.Snappy
	}
	return id
}

// Compress returns raw compressed with codec id as a producer would (raw
// itself for codec.None).
func Compress(tb testing.TB, id int8, raw []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	switch id {
	case codec.None:
		return raw
	case codec.Gzip:
		writeAll(tb, gzip.NewWriter(&buf), raw)
	case codec.Snappy:
		return xerial.Encode(nil, raw)
	case PlainSnappy:
		return snappy.Encode(nil, raw)
	case codec.LZ4:
		writeAll(tb, lz4.NewWriter(&buf), raw)
	case codec.Zstd:
		enc, err := zstd.NewWriter(nil)
		if err != nil {
			tb.Fatal(err)
		}
		return enc.EncodeAll(raw, nil)
	default:
		tb.Fatalf("codectest: codec %d", id)
	}
	return buf.Bytes()
}

func writeAll(tb testing.TB, w io.WriteCloser, raw []byte) {
	tb.Helper()
	_, err := w.Write(raw)
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		tb.Fatalf("codectest: compress: %v", err)
	}
}

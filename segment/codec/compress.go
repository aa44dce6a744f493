package codec

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy/xerial"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// zstdEncoder is shared: EncodeAll is safe for concurrent use, and building
// an encoder allocates its tables.
var zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
})

// Compress appends raw, a records section, compressed with codec id in
// Kafka's framing for it, to dst. Only the log cleaner compresses: it
// rewrites a batch's kept records with the batch's own codec. Snappy is
// written in xerial framing, as the Java client does; every decoder here
// reads it.
func Compress(dst []byte, id int8, raw []byte) ([]byte, error) {
	switch id {
	case None:
		return append(dst, raw...), nil
	case Snappy:
		// Encode's framing assumes an empty dst.
		return append(dst, xerial.Encode(nil, raw)...), nil
	case Zstd:
		enc, err := zstdEncoder()
		if err != nil {
			return dst, fmt.Errorf("codec: zstd encoder: %w", err)
		}
		return enc.EncodeAll(raw, dst), nil
	case Gzip, LZ4:
		buf := bytes.NewBuffer(dst)
		var w io.WriteCloser
		if id == Gzip {
			w = gzip.NewWriter(buf)
		} else {
			w = lz4.NewWriter(buf)
		}
		if _, err := w.Write(raw); err != nil {
			return dst, fmt.Errorf("codec %d: compress: %w", id, err)
		}
		if err := w.Close(); err != nil {
			return dst, fmt.Errorf("codec %d: compress: %w", id, err)
		}
		return buf.Bytes(), nil
	}
	return dst, fmt.Errorf("%w: id %d", ErrUnsupported, id)
}

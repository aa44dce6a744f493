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

// Encoders are pooled, as decoders are: each holds its buffers (an lz4
// writer its block buffer, 64 KiB blocks as Kafka's Java client writes).
var (
	gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	lz4Writers  = sync.Pool{New: func() any {
		w := lz4.NewWriter(nil)
		_ = w.Apply(lz4.BlockSizeOption(lz4.Block64Kb)) // a valid option: never fails
		return w
	}}
)

type resetWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

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
		pool := &gzipWriters
		if id == LZ4 {
			pool = &lz4Writers
		}
		w := pool.Get().(resetWriter)
		defer pool.Put(w)
		w.Reset(buf)
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

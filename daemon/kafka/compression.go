package kafka

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compression codec ids of a v2 batch's attributes.
const (
	codecNone   = 0
	codecGzip   = 1
	codecSnappy = 2
	codecLZ4    = 3
	codecZstd   = 4
)

// zstdWindowBytesMax bounds the window a zstd frame may ask the decoder to
// allocate. Producers compress one batch at a time, so their windows are
// small (zstd-jni's default level uses 2 MiB).
const zstdWindowBytesMax = 32 << 20

// errUnsupportedCompression: a batch names a codec id this broker does not
// know (UNSUPPORTED_COMPRESSION_TYPE).
var errUnsupportedCompression = errors.New("unsupported compression codec")

// Decoders are pooled: building one allocates its tables and buffers, and a
// busy producer sends many batches per second.
var (
	gzipReaders sync.Pool // *gzip.Reader
	lz4Readers  = sync.Pool{New: func() any { return lz4.NewReader(nil) }}
	zstdReaders = sync.Pool{New: func() any {
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1), // synchronous: no goroutines per decoder
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(zstdWindowBytesMax))
		if err != nil {
			panic(fmt.Sprintf("kafka: zstd decoder options: %v", err))
		}
		return d
	}}
)

// decompressor returns a reader of the decompressed records of a batch whose
// records section src is compressed with codec, and release, to be called
// once the reader is done with. At most limit bytes are decompressed: the
// reader fails with errCorruptRecords past that.
func decompressor(codec int8, src []byte, limit int64) (r io.Reader, release func(), err error) {
	switch codec {
	case codecGzip:
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		if zr == nil {
			zr = new(gzip.Reader)
		}
		if err := zr.Reset(bytes.NewReader(src)); err != nil {
			gzipReaders.Put(zr)
			return nil, nil, fmt.Errorf("%w: gzip header: %v", errCorruptRecords, err)
		}
		r, release = zr, func() { gzipReaders.Put(zr) }
	case codecSnappy:
		r, release = newSnappyReader(src, limit), func() {}
	case codecLZ4:
		zr := lz4Readers.Get().(*lz4.Reader)
		zr.Reset(bytes.NewReader(src))
		r, release = zr, func() { zr.Reset(nil); lz4Readers.Put(zr) }
	case codecZstd:
		zr := zstdReaders.Get().(*zstd.Decoder)
		if err := zr.Reset(bytes.NewReader(src)); err != nil {
			zstdReaders.Put(zr)
			return nil, nil, fmt.Errorf("%w: zstd: %v", errCorruptRecords, err)
		}
		r, release = zr, func() { _ = zr.Reset(nil); zstdReaders.Put(zr) }
	default:
		return nil, nil, fmt.Errorf("%w: codec %d", errUnsupportedCompression, codec)
	}
	return &boundedReader{r: r, left: limit}, release, nil
}

// boundedReader fails once more than left bytes come out of r, so a small
// batch cannot make the broker decompress without end (a zip bomb), and
// turns decoder errors into errCorruptRecords.
type boundedReader struct {
	r    io.Reader
	left int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a stream that ends exactly at the limit from
		// one that goes on.
		var one [1]byte
		if n, err := b.r.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("%w: decompressed size over the limit", errCorruptRecords)
		} else if err != nil {
			return 0, b.wrap(err)
		}
		return 0, nil
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, b.wrap(err)
}

func (b *boundedReader) wrap(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	if errors.Is(err, errCorruptRecords) {
		return err
	}
	return fmt.Errorf("%w: decompress: %v", errCorruptRecords, err)
}

// xerialMagic opens Kafka's snappy framing (snappy-java's stream format):
// the magic, a 4-byte version and a 4-byte compatible version, then chunks
// of a 4-byte big-endian length and a snappy block.
var xerialMagic = []byte("\x82SNAPPY\x00")

const xerialHeaderSize = 16

// snappyReader decodes snappy records one block at a time: the xerial
// chunks the Java client writes, or one plain snappy block (some clients
// send that).
type snappyReader struct {
	src   []byte // chunks not yet decoded
	buf   []byte // decoded bytes of the current block
	pos   int    // read position in buf
	left  int64  // decoded bytes still allowed
	plain bool   // src is one unframed block
}

func newSnappyReader(src []byte, limit int64) *snappyReader {
	if len(src) >= xerialHeaderSize && bytes.HasPrefix(src, xerialMagic) {
		return &snappyReader{src: src[xerialHeaderSize:], left: limit}
	}
	return &snappyReader{src: src, left: limit, plain: true}
}

func (s *snappyReader) Read(p []byte) (int, error) {
	for s.pos == len(s.buf) {
		if len(s.src) == 0 {
			return 0, io.EOF
		}
		if err := s.nextBlock(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.buf[s.pos:])
	s.pos += n
	return n, nil
}

// nextBlock decodes the next block into buf. The decoded length a block
// declares is checked against the limit before anything is allocated.
func (s *snappyReader) nextBlock() error {
	block := s.src
	if s.plain {
		s.src = nil
	} else {
		if len(s.src) < 4 {
			return fmt.Errorf("%w: snappy chunk length truncated", errCorruptRecords)
		}
		n := binary.BigEndian.Uint32(s.src)
		if uint64(n) > uint64(len(s.src)-4) {
			return fmt.Errorf("%w: snappy chunk of %d bytes, %d left", errCorruptRecords, n, len(s.src)-4)
		}
		block, s.src = s.src[4:4+n], s.src[4+n:]
	}
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return fmt.Errorf("%w: snappy: %v", errCorruptRecords, err)
	}
	if int64(n) > s.left {
		return fmt.Errorf("%w: decompressed size over the limit", errCorruptRecords)
	}
	s.left -= int64(n)
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	if s.buf, err = snappy.Decode(s.buf[:n], block); err != nil {
		return fmt.Errorf("%w: snappy: %v", errCorruptRecords, err)
	}
	s.pos = 0
	return nil
}

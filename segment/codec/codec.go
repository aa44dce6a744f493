package codec

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

// Codec ids, the compression bits of a v2 batch's attributes.
const (
	None   int8 = 0
	Gzip   int8 = 1
	Snappy int8 = 2
	LZ4    int8 = 3
	Zstd   int8 = 4
)

// Decompressed records may be at most decompressedRatioMax times the
// topic's max.message.bytes, and never more than decompressedBytesCap. Real
// batches compress a few times; far beyond that is a zip bomb.
const (
	decompressedRatioMax = 64
	decompressedBytesCap = 512 << 20
)

// DecompressedBytesMax is the most a batch's records may decompress to
// under a batch size limit of batchBytesMax (max.message.bytes): the limit
// to give NewReader.
func DecompressedBytesMax(batchBytesMax int64) int64 {
	return min(batchBytesMax*decompressedRatioMax, decompressedBytesCap)
}

// zstdWindowBytesMax bounds the window a zstd frame may ask the decoder to
// allocate. Producers compress one batch at a time, so their windows are
// small (zstd-jni's default level uses 2 MiB).
const zstdWindowBytesMax = 32 << 20

// ErrUnsupported: a batch names a codec id that is not one of the four.
// ErrCorrupt: compressed records do not decompress, or decompress to more
// than the limit given.
var (
	ErrUnsupported = errors.New("unsupported compression codec")
	ErrCorrupt     = errors.New("corrupt compressed records")
)

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
			panic(fmt.Sprintf("codec: zstd decoder options: %v", err))
		}
		return d
	}}
)

// NewReader returns a reader of the decompressed records of a batch whose
// records section src is compressed with codec id, and release, to be
// called once the reader is done with (src must not change until then). At
// most limit bytes are decompressed: the reader fails with ErrCorrupt past
// that, and on any decoder error.
func NewReader(id int8, src []byte, limit int64) (r io.Reader, release func(), err error) {
	switch id {
	case Gzip:
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		if zr == nil {
			zr = new(gzip.Reader)
		}
		if err := zr.Reset(bytes.NewReader(src)); err != nil {
			gzipReaders.Put(zr)
			return nil, nil, fmt.Errorf("%w: gzip header: %v", ErrCorrupt, err)
		}
		r, release = zr, func() { gzipReaders.Put(zr) }
	case Snappy:
		r, release = newSnappyReader(src, limit), func() {}
	case LZ4:
		zr := lz4Readers.Get().(*lz4.Reader)
		zr.Reset(bytes.NewReader(src))
		r, release = zr, func() { zr.Reset(nil); lz4Readers.Put(zr) }
	case Zstd:
		zr := zstdReaders.Get().(*zstd.Decoder)
		if err := zr.Reset(bytes.NewReader(src)); err != nil {
			zstdReaders.Put(zr)
			return nil, nil, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		}
		r, release = zr, func() { _ = zr.Reset(nil); zstdReaders.Put(zr) }
	default:
		return nil, nil, fmt.Errorf("%w: codec %d", ErrUnsupported, id)
	}
	return &boundedReader{r: r, left: limit}, release, nil
}

// boundedReader fails once more than left bytes come out of r, so a small
// batch cannot make the broker decompress without end (a zip bomb), and
// turns decoder errors into ErrCorrupt.
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
			return 0, fmt.Errorf("%w: decompressed size over the limit", ErrCorrupt)
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
	if errors.Is(err, ErrCorrupt) {
		return err
	}
	return fmt.Errorf("%w: decompress: %v", ErrCorrupt, err)
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
			return fmt.Errorf("%w: snappy chunk length truncated", ErrCorrupt)
		}
		n := binary.BigEndian.Uint32(s.src)
		if uint64(n) > uint64(len(s.src)-4) {
			return fmt.Errorf("%w: snappy chunk of %d bytes, %d left", ErrCorrupt, n, len(s.src)-4)
		}
		block, s.src = s.src[4:4+n], s.src[4+n:]
	}
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return fmt.Errorf("%w: snappy: %v", ErrCorrupt, err)
	}
	if int64(n) > s.left {
		return fmt.Errorf("%w: decompressed size over the limit", ErrCorrupt)
	}
	s.left -= int64(n)
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	if s.buf, err = snappy.Decode(s.buf[:n], block); err != nil {
		return fmt.Errorf("%w: snappy: %v", ErrCorrupt, err)
	}
	s.pos = 0
	return nil
}

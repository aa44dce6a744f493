package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/segment"
	"github.com/riffle/riffle/segment/codec"
)

// errInvalidRecord: a record that does not parse, a count or an offset
// delta that does not match (INVALID_RECORD: the producer built a bad
// batch, retrying cannot help). Records that do not decompress, or
// decompress past the size limit, are codec.ErrCorrupt (CORRUPT_MESSAGE).
var errInvalidRecord = errors.New("invalid record")

// recordError is an errInvalidRecord that names the record (RecordErrors in
// the Produce response); index -1 when it concerns the batch as a whole.
type recordError struct {
	index int32
	msg   string
}

func (e *recordError) Error() string {
	if e.index < 0 {
		return fmt.Sprintf("%v: %s", errInvalidRecord, e.msg)
	}
	return fmt.Sprintf("%v: record %d: %s", errInvalidRecord, e.index, e.msg)
}

func (e *recordError) Unwrap() error { return errInvalidRecord }

// errorRecords names the record in a Produce answer.
func (e *recordError) errorRecords() []kmsg.ProduceResponseTopicPartitionErrorRecord {
	if e.index < 0 {
		return nil
	}
	return []kmsg.ProduceResponseTopicPartitionErrorRecord{{RelativeOffset: e.index, ErrorMessage: &e.msg}}
}

// keylessError: records without a key in a batch for a compacted topic,
// which Kafka refuses (INVALID_RECORD, each record named).
type keylessError struct {
	indexes []int32
	count   int32
}

const keylessMessage = "compacted topic cannot accept a record without a key"

func (e *keylessError) Error() string {
	return fmt.Sprintf("%v: %d of %d records without a key: %s", errInvalidRecord, len(e.indexes), e.count, keylessMessage)
}

func (e *keylessError) Unwrap() error { return errInvalidRecord }

func (e *keylessError) errorRecords() []kmsg.ProduceResponseTopicPartitionErrorRecord {
	msg := keylessMessage
	out := make([]kmsg.ProduceResponseTopicPartitionErrorRecord, len(e.indexes))
	for i, index := range e.indexes {
		out[i] = kmsg.ProduceResponseTopicPartitionErrorRecord{RelativeOffset: index, ErrorMessage: &msg}
	}
	return out
}

// validateRecords checks the records of a validated batch (its header and
// CRC are sound): h.RecordCount records, each well formed with offset deltas
// 0, 1, 2, ..., and nothing after the last. Compressed records are
// decompressed to check them when decompress is set; batchBytesMax is the
// topic's max.message.bytes, which bounds the decompressed size. Records are
// walked as a stream, so that bound limits CPU, not memory.
// keysRequired (a compacted topic) refuses records without a key, naming
// every one, as Kafka does; compressed records are then always
// decompressed to see their keys.
func validateRecords(b segment.Batch, batchBytesMax int32, decompress, keysRequired bool) error {
	h, batch := b.Header(), b.Bytes()
	id := h.Compression()
	if id > codec.Zstd {
		return fmt.Errorf("%w: codec %d", codec.ErrUnsupported, id)
	}
	if id != codec.None && !decompress && !keysRequired {
		return nil
	}
	src := recordStream{buf: batch[segment.BatchHeaderSize:]}
	if id != codec.None {
		r, release, err := codec.NewReader(id, src.buf, codec.DecompressedBytesMax(int64(batchBytesMax)))
		if err != nil {
			return err
		}
		defer release()
		scratch := scratchBufs.Get().(*[]byte)
		defer scratchBufs.Put(scratch)
		src = recordStream{src: r, scratch: *scratch}
	}
	return walkRecords(&src, h.RecordCount, keysRequired)
}

// recordStream is the records' bytes, read a byte or a run at a time
// through one concrete type (no interface call per byte). An
// uncompressed batch is one slice, walked where it lies; a compressed one
// is decompressed into scratch a piece at a time, so records far larger
// than scratch stream through it.
type recordStream struct {
	buf     []byte    // bytes not yet read
	src     io.Reader // the bytes after buf; nil when buf is all there is
	scratch []byte    // src is read into it
}

// scratchBufs hold decompressed record bytes on their way through a walk.
var scratchBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// fill reads src's next bytes into buf (empty before the call).
func (s *recordStream) fill() error {
	if s.src == nil {
		return io.EOF
	}
	// A reader that keeps returning nothing and no error is broken; stop
	// as bufio does rather than spin.
	for range 100 {
		n, err := s.src.Read(s.scratch)
		if n > 0 {
			s.buf = s.scratch[:n]
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

func (s *recordStream) readByte() (byte, error) {
	if len(s.buf) == 0 {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	c := s.buf[0]
	s.buf = s.buf[1:]
	return c, nil
}

// discard skips n bytes.
func (s *recordStream) discard(n int64) error {
	for n > 0 {
		if len(s.buf) == 0 {
			if err := s.fill(); err != nil {
				return err
			}
		}
		k := min(n, int64(len(s.buf)))
		s.buf = s.buf[k:]
		n -= k
	}
	return nil
}

// walkRecords reads count records from src and checks that src ends
// there, and with keysRequired that every record has a key.
func walkRecords(src *recordStream, count int32, keysRequired bool) error {
	r := recordReader{src: src}
	var keyless []int32
	for i := int32(0); i < count; i++ {
		if err := r.walk(i); err != nil {
			return err
		}
		if keysRequired && r.keyNull {
			keyless = append(keyless, i)
		}
	}
	switch _, err := src.readByte(); {
	case err == nil:
		return &recordError{index: -1, msg: fmt.Sprintf("bytes after the %d records the header counts", count)}
	case err != io.EOF:
		return corruptOr(err, -1, "after the last record")
	}
	if len(keyless) > 0 {
		return &keylessError{indexes: keyless, count: count}
	}
	return nil
}

// recordReader reads the fields of one record at a time, never past the
// record's length.
type recordReader struct {
	src   *recordStream
	left  int64 // bytes of the record not yet read
	index int32
	err   error // first error of the record; later reads return zero values
	// keyNull: the record walked has a null key.
	keyNull bool
}

func (r *recordReader) fail(err error, what string) {
	if r.err == nil {
		r.err = corruptOr(err, r.index, what)
	}
}

// varint reads a zigzag varint of at most 10 bytes within the record.
func (r *recordReader) varint(what string) int64 {
	// Whole in the buffer (nearly always): decode it in place. Anything
	// else, a malformed varint included, takes the byte-at-a-time path,
	// which says what is wrong.
	if ux, n := binary.Uvarint(r.src.buf); n > 0 && int64(n) <= r.left && r.err == nil {
		r.src.buf = r.src.buf[n:]
		r.left -= int64(n)
		return int64(ux>>1) ^ -int64(ux&1)
	}
	var ux uint64
	for shift := uint(0); r.err == nil; shift += 7 {
		if r.left <= 0 || shift > 63 {
			r.fail(nil, what+": bad varint")
			break
		}
		c, err := r.src.readByte()
		if err != nil {
			r.fail(err, what)
			break
		}
		r.left--
		ux |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(ux>>1) ^ -int64(ux&1)
		}
	}
	return 0
}

// skip skips a length-prefixed field (key, value, header key or value);
// length -1 (null) is allowed when nullable, and reported.
func (r *recordReader) skip(what string, nullable bool) (null bool) {
	n := r.varint(what)
	if r.err != nil || (n == -1 && nullable) {
		return r.err == nil
	}
	if n < 0 || n > r.left {
		r.fail(nil, fmt.Sprintf("%s length %d with %d record bytes left", what, n, r.left))
		return
	}
	if err := r.src.discard(n); err != nil {
		r.fail(err, what)
		return
	}
	r.left -= n
	return false
}

// walk reads record index: length, attributes, timestamp delta, offset
// delta, key, value, headers.
func (r *recordReader) walk(index int32) error {
	*r = recordReader{src: r.src, left: binary.MaxVarintLen64, index: index}
	length := r.varint("record length")
	// The smallest record is 6 bytes: attributes and five 1-byte varints.
	if r.err == nil && (length < 6 || length > math.MaxInt32) {
		r.fail(nil, fmt.Sprintf("record length %d", length))
	}
	if r.err != nil {
		return r.err
	}
	r.left = length
	r.skipAttributes()
	r.varint("timestamp delta")
	if delta := r.varint("offset delta"); r.err == nil && delta != int64(index) {
		r.fail(nil, fmt.Sprintf("offset delta %d, want %d", delta, index))
	}
	r.keyNull = r.skip("key", true)
	r.skip("value", true)
	headers := r.varint("header count")
	if r.err == nil && (headers < 0 || headers > r.left/2) { // a header is at least 2 bytes
		r.fail(nil, fmt.Sprintf("header count %d with %d record bytes left", headers, r.left))
	}
	for h := int64(0); h < headers && r.err == nil; h++ {
		r.skip("header key", false)
		r.skip("header value", true)
	}
	if r.err == nil && r.left != 0 {
		r.fail(nil, fmt.Sprintf("%d bytes left over", r.left))
	}
	return r.err
}

// skipAttributes skips the record's attributes byte (unused in v2).
func (r *recordReader) skipAttributes() {
	if _, err := r.src.readByte(); err != nil {
		r.fail(err, "attributes")
		return
	}
	r.left--
}

// corruptOr keeps a decompression error as it is and makes anything else
// (a short or malformed record) an invalid record; err may be nil.
func corruptOr(err error, index int32, what string) error {
	if errors.Is(err, codec.ErrCorrupt) {
		return err
	}
	if err == nil {
		return &recordError{index: index, msg: what}
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &recordError{index: index, msg: fmt.Sprintf("%s: %v", what, err)}
}

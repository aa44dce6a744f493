package segment

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/riffle/riffle/segment/codec"
)

// recordSource is what a record walk reads: a sliceSource over an
// uncompressed batch's records, or a bufio.Reader over decompressed ones.
type recordSource interface {
	io.ByteReader
	Discard(n int) (discarded int, err error)
}

// sliceSource reads a records section held in memory.
type sliceSource struct{ b []byte }

func (s *sliceSource) ReadByte() (byte, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c, nil
}

func (s *sliceSource) Discard(n int) (int, error) {
	if n > len(s.b) {
		n = len(s.b)
		s.b = nil
		return n, io.ErrUnexpectedEOF
	}
	s.b = s.b[n:]
	return n, nil
}

// countingSource counts the bytes read from src, so that the rest of a
// record can be skipped: varints may be longer than their value needs.
type countingSource struct {
	src  recordSource
	read int64
}

func (c *countingSource) ReadByte() (byte, error) {
	b, err := c.src.ReadByte()
	if err == nil {
		c.read++
	}
	return b, err
}

// eachRecordTime calls fn with the offset and timestamp of every record of
// batch b (h its header), in order, until fn returns false. Compressed
// records are decompressed as a stream, at most decompressedBytesMax bytes;
// a batch that does not decompress is codec.ErrCorrupt or
// codec.ErrUnsupported, records that do not parse ErrCorruptBatch.
func eachRecordTime(b []byte, h BatchHeader, decompressedBytesMax int64, fn func(offset, ts int64) bool) error {
	records := b[BatchHeaderSize:]
	if h.Compression() == codec.None {
		return walkRecordTimes(&sliceSource{records}, h, fn)
	}
	r, release, err := codec.NewReader(h.Compression(), records, decompressedBytesMax)
	if err != nil {
		return err
	}
	defer release()
	return walkRecordTimes(bufio.NewReader(r), h, fn)
}

// walkRecordTimes reads the h.RecordCount records of src: of each, its
// timestamp and offset deltas, skipping the rest. A LogAppendTime batch's
// records all carry its max timestamp.
func walkRecordTimes(src recordSource, h BatchHeader, fn func(offset, ts int64) bool) error {
	c := &countingSource{src: src}
	for i := int32(0); i < h.RecordCount; i++ {
		length, err := binary.ReadVarint(c)
		if err != nil {
			return recordErr(i, "length", err)
		}
		c.read = 0
		if _, err := c.ReadByte(); err != nil { // the record attributes
			return recordErr(i, "attributes", err)
		}
		tsDelta, err := binary.ReadVarint(c)
		if err != nil {
			return recordErr(i, "timestamp delta", err)
		}
		offsetDelta, err := binary.ReadVarint(c)
		if err != nil {
			return recordErr(i, "offset delta", err)
		}
		if c.read > length {
			return recordErr(i, fmt.Sprintf("length %d", length), nil)
		}
		if _, err := src.Discard(int(length - c.read)); err != nil {
			return recordErr(i, "body", err)
		}
		ts := h.BaseTimestamp + tsDelta
		if h.Attributes&AttrLogAppendTime != 0 {
			ts = h.MaxTimestamp
		}
		if !fn(h.BaseOffset+offsetDelta, ts) {
			return nil
		}
	}
	return nil
}

// recordErr keeps a decompression error as it is and makes anything else
// (err may be nil) a record that does not parse.
func recordErr(index int32, what string, err error) error {
	switch {
	case errors.Is(err, codec.ErrCorrupt):
		return fmt.Errorf("record %d %s: %w", index, what, err)
	case err == nil:
		return fmt.Errorf("%w: record %d %s", ErrCorruptBatch, index, what)
	case err == io.EOF:
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: record %d %s: %v", ErrCorruptBatch, index, what, err)
}

// maxTimestampOffset returns the offset of the first record of batch b
// carrying its max timestamp. A CreateTime batch's records are read (and
// decompressed, at most decompressedBytesMax bytes) only when
// decompressedBytesMax > 0; resolved is false when they are not, and the
// offset is then the batch's last offset: a stand-in within the batch, for
// a later call with a limit to resolve. Appends and recovery pass 0, so that
// no record is read twice on the produce path (the Kafka layer has already
// walked them) for an answer only ListOffsets -3 asks for. A batch whose
// records cannot be read (or decompressed) keeps the stand-in.
func maxTimestampOffset(b []byte, h BatchHeader, decompressedBytesMax int64) (offset int64, resolved bool) {
	if h.Attributes&AttrLogAppendTime != 0 {
		return h.BaseOffset, true
	}
	if decompressedBytesMax <= 0 {
		return h.LastOffset(), false
	}
	offset = h.LastOffset()
	// Validated batches always parse; the stand-in covers the impossible.
	_ = eachRecordTime(b, h, decompressedBytesMax, func(o, ts int64) bool {
		if ts == h.MaxTimestamp {
			offset = o
			return false
		}
		return true
	})
	return offset, true
}

// decompressedBytesMax bounds the decompressed records of batch h as the
// produce path did under max.message.bytes batchBytesMax, and never below
// what the batch's own size allows (the limit may have been lowered since).
func decompressedBytesMax(h BatchHeader, batchBytesMax int32) int64 {
	return codec.DecompressedBytesMax(max(int64(batchBytesMax), h.Size()))
}

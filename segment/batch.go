package segment

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Byte offsets of the v2 record batch header fields.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57

	// BatchHeaderSize is the size of a v2 batch header up to the records.
	BatchHeaderSize = 61
	// batchOverhead is what the Length field does not count.
	batchOverhead = offLength + 4
)

// Attribute bits of a v2 batch.
const (
	AttrCompressionMask = 0x07
	AttrLogAppendTime   = 0x08
	AttrTransactional   = 0x10
	AttrControl         = 0x20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BatchHeader is the 61-byte v2 record batch header.
type BatchHeader struct {
	BaseOffset           int64
	Length               int32 // bytes after the Length field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	RecordCount          int32
}

// LastOffset is the offset of the batch's last record.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Size is the whole batch's size on disk and on the wire.
func (h BatchHeader) Size() int64 { return int64(h.Length) + batchOverhead }

// Compression is the codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
func (h BatchHeader) Compression() int8 { return int8(h.Attributes & AttrCompressionMask) }

// ParseBatchHeader decodes the header of the batch at the start of b. It
// checks only that the header is there; ValidateBatch checks the batch.
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	if len(b) < BatchHeaderSize {
		return BatchHeader{}, fmt.Errorf("%w: %d bytes is shorter than a batch header", ErrCorruptBatch, len(b))
	}
	be := binary.BigEndian
	return BatchHeader{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		Length:               int32(be.Uint32(b[offLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:        int64(be.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		RecordCount:          int32(be.Uint32(b[offRecordCount:])),
	}, nil
}

// Batch is one record batch that ValidateBatch checked, with the header it
// parsed. It is the only form in which a Log takes a batch: a batch is
// checked once where it enters the broker (a produce, a follower's fetch, a
// raft entry, an internal log's own encoding) and its header is parsed and
// its CRC computed once. The zero Batch holds nothing and is never appended.
type Batch struct {
	b []byte
	h BatchHeader
}

// Bytes is the batch as validated. Appending it rewrites baseOffset and
// partitionLeaderEpoch (and for LogAppendTime the timestamp and CRC) in
// place.
func (v Batch) Bytes() []byte { return v.b }

// Header is the header as validated, before any rewrite by an append.
func (v Batch) Header() BatchHeader { return v.h }

// ValidateBatch checks one batch exactly as it came off the wire: it must be
// the whole of b, magic 2 (ErrUnsupportedMagic), a length field that covers
// all of b (ErrTrailingBytes when b holds more), len(b) <= maxBytes,
// CRC-32C over attributes→end, lastOffsetDelta+1 == record count > 0.
func ValidateBatch(b []byte, maxBytes int32) (Batch, error) {
	v, err := validateStoredBatch(b, maxBytes)
	if err == nil && int64(v.h.RecordCount) != int64(v.h.LastOffsetDelta)+1 {
		return Batch{}, fmt.Errorf("%w: lastOffsetDelta %d with %d records", ErrCorruptBatch, v.h.LastOffsetDelta, v.h.RecordCount)
	}
	return v, err
}

// validateStoredBatch is ValidateBatch for a batch a log may hold: one the
// log cleaner rewrote keeps its last offset delta with fewer records, down
// to none (Kafka's empty batch), so 0 <= records <= lastOffsetDelta+1.
// Recovery and the follower's fetch answers (ValidateBatches: a follower
// copies a cleaned leader) check batches with it.
func validateStoredBatch(b []byte, maxBytes int32) (Batch, error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return Batch{}, err
	}
	if h.Magic != 2 {
		return Batch{}, fmt.Errorf("%w: %w: magic %d", ErrCorruptBatch, ErrUnsupportedMagic, h.Magic)
	}
	if size := h.Size(); size >= BatchHeaderSize && size < int64(len(b)) {
		return Batch{}, fmt.Errorf("%w: %w: %d bytes after the batch", ErrCorruptBatch, ErrTrailingBytes, int64(len(b))-size)
	}
	if h.Size() != int64(len(b)) {
		return Batch{}, fmt.Errorf("%w: length field %d does not match %d batch bytes", ErrCorruptBatch, h.Length, len(b))
	}
	if int64(len(b)) > int64(maxBytes) {
		return Batch{}, fmt.Errorf("%w: %d bytes, limit %d", ErrBatchTooLarge, len(b), maxBytes)
	}
	if got := crc32.Checksum(b[offAttributes:], castagnoli); got != h.CRC {
		return Batch{}, fmt.Errorf("%w: crc %08x, computed %08x", ErrCorruptBatch, h.CRC, got)
	}
	if h.RecordCount < 0 || h.LastOffsetDelta < 0 || int64(h.RecordCount) > int64(h.LastOffsetDelta)+1 {
		return Batch{}, fmt.Errorf("%w: lastOffsetDelta %d with %d records", ErrCorruptBatch, h.LastOffsetDelta, h.RecordCount)
	}
	return Batch{b: b, h: h}, nil
}

// ValidateBatches splits records, the batches of a fetch answer laid end to
// end, into validated batches of at most maxBytes each, as a log may hold
// them (validateStoredBatch: a compacted leader's batches may hold fewer
// records than offsets). A partial batch at
// the end (a fetch cut at its byte limit) is dropped. At the first batch
// that fails, it returns the batches before it with the error.
func ValidateBatches(records []byte, maxBytes int32) ([]Batch, error) {
	var out []Batch
	for len(records) >= BatchHeaderSize {
		size := int64(int32(binary.BigEndian.Uint32(records[offLength:]))) + batchOverhead
		if size > int64(len(records)) {
			break
		}
		if size < BatchHeaderSize {
			return out, fmt.Errorf("%w: length field %d is shorter than a batch header", ErrCorruptBatch, size-batchOverhead)
		}
		v, err := validateStoredBatch(records[:size], maxBytes)
		if err != nil {
			return out, err
		}
		out = append(out, v)
		records = records[size:]
	}
	return out, nil
}

// SetBaseOffset rewrites baseOffset in place (outside the CRC).
func SetBaseOffset(b []byte, offset int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(offset))
}

// SetPartitionLeaderEpoch rewrites partitionLeaderEpoch in place (outside the CRC).
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime stamps the batch with LogAppendTime ts: sets the
// timestamp-type bit and maxTimestamp, and recomputes the CRC.
func SetLogAppendTime(b []byte, ts int64) {
	be := binary.BigEndian
	attrs := be.Uint16(b[offAttributes:]) | AttrLogAppendTime
	be.PutUint16(b[offAttributes:], attrs)
	be.PutUint64(b[offMaxTimestamp:], uint64(ts))
	be.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
}

// Record is one record for EncodeBatch.
type Record struct {
	Key, Value     []byte // nil encodes as null
	Headers        []RecordHeader
	TimestampDelta int64
}

// RecordHeader is a record header.
type RecordHeader struct {
	Key   string
	Value []byte
}

// BatchSpec is the producer fields of a batch built by EncodeBatch.
type BatchSpec struct {
	BaseTimestamp int64
	ProducerID    int64 // -1 for none
	ProducerEpoch int16 // -1 for none
	BaseSequence  int32 // -1 for none
	Attributes    int16 // compression must be 0: EncodeBatch does not compress
}

// EncodeBatch appends an uncompressed v2 batch of records (base offset 0,
// CRC set) to dst. It serves internal logs (metadata, offsets) and tests.
func EncodeBatch(dst []byte, spec BatchSpec, records []Record) []byte {
	if len(records) == 0 || spec.Attributes&AttrCompressionMask != 0 {
		panic("segment: EncodeBatch needs records and no compression")
	}
	start := len(dst)
	dst = append(dst, make([]byte, BatchHeaderSize)...)
	maxDelta := int64(0)
	for i, r := range records {
		dst = appendRecord(dst, int64(i), r)
		maxDelta = max(maxDelta, r.TimestampDelta)
	}
	b := dst[start:]
	be := binary.BigEndian
	be.PutUint32(b[offLength:], uint32(len(b)-batchOverhead))
	b[offMagic] = 2
	be.PutUint16(b[offAttributes:], uint16(spec.Attributes))
	be.PutUint32(b[offLastOffsetDelta:], uint32(len(records)-1))
	be.PutUint64(b[offBaseTimestamp:], uint64(spec.BaseTimestamp))
	be.PutUint64(b[offMaxTimestamp:], uint64(spec.BaseTimestamp+maxDelta))
	be.PutUint64(b[offProducerID:], uint64(spec.ProducerID))
	be.PutUint16(b[offProducerEpoch:], uint16(spec.ProducerEpoch))
	be.PutUint32(b[offBaseSequence:], uint32(spec.BaseSequence))
	be.PutUint32(b[offRecordCount:], uint32(len(records)))
	be.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return dst
}

func appendRecord(dst []byte, offsetDelta int64, r Record) []byte {
	var body []byte
	body = append(body, 0) // record attributes
	body = binary.AppendVarint(body, r.TimestampDelta)
	body = binary.AppendVarint(body, offsetDelta)
	body = appendVarBytes(body, r.Key)
	body = appendVarBytes(body, r.Value)
	body = binary.AppendVarint(body, int64(len(r.Headers)))
	for _, h := range r.Headers {
		body = appendVarBytes(body, []byte(h.Key))
		body = appendVarBytes(body, h.Value)
	}
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

func appendVarBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

package segment

import (
	"encoding/binary"
	"fmt"
)

// eachRecordTime calls fn with the offset and timestamp of every record of
// an uncompressed batch b, in order, until fn returns false. A LogAppendTime
// batch's records all carry its max timestamp.
func eachRecordTime(b []byte, h BatchHeader, fn func(offset, ts int64) bool) error {
	if h.Compression() != 0 {
		panic("segment: eachRecordTime on a compressed batch")
	}
	p := b[BatchHeaderSize:]
	for i := int32(0); i < h.RecordCount; i++ {
		length, n := binary.Varint(p)
		if n <= 0 || length < 1 || length > int64(len(p)-n) {
			return fmt.Errorf("%w: record %d length", ErrCorruptBatch, i)
		}
		rec := p[n+1 : n+int(length)] // after the record attributes byte
		p = p[n+int(length):]
		tsDelta, n1 := binary.Varint(rec)
		if n1 <= 0 {
			return fmt.Errorf("%w: record %d timestamp", ErrCorruptBatch, i)
		}
		offsetDelta, n2 := binary.Varint(rec[n1:])
		if n2 <= 0 {
			return fmt.Errorf("%w: record %d offset delta", ErrCorruptBatch, i)
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

// maxTimestampOffset is the offset of the first record carrying the batch's
// max timestamp: exact for uncompressed and LogAppendTime batches; for a
// compressed CreateTime batch, whose records would need decompressing, the
// batch's last offset.
func maxTimestampOffset(b []byte, h BatchHeader) int64 {
	if h.Attributes&AttrLogAppendTime != 0 {
		return h.BaseOffset
	}
	if h.Compression() != 0 {
		return h.LastOffset()
	}
	found := h.LastOffset()
	// A validated batch that fails to parse keeps the batch-level answer.
	_ = eachRecordTime(b, h, func(offset, ts int64) bool {
		if ts == h.MaxTimestamp {
			found = offset
			return false
		}
		return true
	})
	return found
}

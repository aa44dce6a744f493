package quorum

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/riffle/riffle/segment"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// replayReadBytes bounds one Read of the metadata log during replay.
const replayReadBytes = 1 << 20

// encodeBatch encodes recs as one uncompressed record batch: the unit a
// change is committed in, so a change is applied whole or not at all.
func encodeBatch(recs []record, nowMs int64) []byte {
	out := make([]segment.Record, len(recs))
	for i, r := range recs {
		out[i].Key, out[i].Value = encodeRecord(r)
	}
	spec := segment.BatchSpec{BaseTimestamp: nowMs, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	return segment.EncodeBatch(nil, spec, out)
}

// decodeBatch validates one whole batch and decodes its records.
func decodeBatch(batch []byte) (segment.Batch, []record, error) {
	v, err := segment.ValidateBatch(batch, math.MaxInt32)
	if err != nil {
		return v, nil, fmt.Errorf("%w: %w", ErrCorruptMetadata, err)
	}
	h := v.Header()
	if h.Compression() != 0 || h.Attributes&segment.AttrControl != 0 {
		return v, nil, fmt.Errorf("%w: batch at offset %d has attributes %#x", ErrCorruptMetadata, h.BaseOffset, h.Attributes)
	}
	b := batch[segment.BatchHeaderSize:]
	recs := make([]record, 0, h.RecordCount)
	for i := int32(0); i < h.RecordCount; i++ {
		n, w := binary.Varint(b)
		if w <= 0 || n < 0 || n > int64(len(b)-w) {
			return v, nil, fmt.Errorf("%w: batch at offset %d: record %d length", ErrCorruptMetadata, h.BaseOffset, i)
		}
		var kr kmsg.Record
		if err := kr.ReadFrom(b[:w+int(n)]); err != nil {
			return v, nil, fmt.Errorf("%w: batch at offset %d: record %d: %w", ErrCorruptMetadata, h.BaseOffset, i, err)
		}
		r, err := decodeRecord(kr.Key, kr.Value)
		if err != nil {
			return v, nil, fmt.Errorf("offset %d: %w", h.BaseOffset+int64(i), err)
		}
		recs = append(recs, r)
		b = b[w+int(n):]
	}
	if len(b) != 0 {
		return v, nil, fmt.Errorf("%w: batch at offset %d: %d bytes after the last record", ErrCorruptMetadata, h.BaseOffset, len(b))
	}
	return v, recs, nil
}

// replay applies every batch of the metadata log to im and returns the
// image at the log end. One builder serves the whole log: intermediate
// images are never published, so they are not built.
func replay(log *segment.Log, im *Image) (*Image, error) {
	// Without snapshots the image needs the log from its first record.
	if start := log.LogStartOffset(); start != 0 {
		return nil, fmt.Errorf("%w: metadata log starts at offset %d, records before it are gone", ErrCorruptMetadata, start)
	}
	ib := newImageBuilder(im)
	leo := log.LogEndOffset()
	var buf []byte
	for off := int64(0); off < leo; {
		var err error
		if buf, err = readBatches(log, off, leo, buf); err != nil {
			return nil, err
		}
		for rest := buf; len(rest) > 0; {
			h, err := segment.ParseBatchHeader(rest)
			if err != nil || h.BaseOffset != off || h.Size() > int64(len(rest)) || h.Size() < segment.BatchHeaderSize {
				return nil, fmt.Errorf("%w: bad batch where offset %d should start", ErrCorruptMetadata, off)
			}
			_, recs, err := decodeBatch(rest[:h.Size()])
			if err != nil {
				return nil, err
			}
			if err := ib.applyBatch(recs, h.LastOffset()); err != nil {
				return nil, err
			}
			off = h.LastOffset() + 1
			rest = rest[h.Size():]
		}
	}
	return ib.next, nil
}

// readBatches reads whole batches from offset off on (replayReadBytes, or
// one larger batch) into buf, reusing its space.
func readBatches(log *segment.Log, off, leo int64, buf []byte) ([]byte, error) {
	region, err := log.Read(off, replayReadBytes, leo, true)
	if err != nil {
		return nil, fmt.Errorf("read metadata log at %d: %w", off, err)
	}
	defer region.Release()
	buf = append(buf[:0], make([]byte, region.Len)...)
	n, err := region.File.ReadAt(buf, region.Pos)
	if n < len(buf) {
		return nil, fmt.Errorf("read metadata log at %d: %d of %d bytes: %w", off, n, len(buf), err)
	}
	if len(buf) == 0 {
		return nil, fmt.Errorf("%w: empty read at offset %d below log end %d", ErrCorruptMetadata, off, leo)
	}
	return buf, nil
}

package segment

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"

	"github.com/riffle/riffle/segment/codec"
)

// The cleaner's record level, without I/O: reading a batch's records,
// deciding which stay, and writing a batch of the kept ones.

// cleanRecord is one record of a batch under cleaning.
type cleanRecord struct {
	offset    int64
	timestamp int64
	key       []byte // nil when the record has no key
	tombstone bool   // null value
	raw       []byte // the encoded record, length varint included
}

// batchRecords returns the records of batch b (h its header),
// decompressing them under limit bytes. Each record's raw bytes are kept
// as they are, so a rewritten batch carries them unchanged: deltas stay
// relative to the batch's base offset and base timestamp, which the
// rewrite preserves.
func batchRecords(b []byte, h BatchHeader, limit int64) ([]cleanRecord, error) {
	section := b[BatchHeaderSize:]
	if h.Compression() != codec.None {
		r, release, err := codec.NewReader(h.Compression(), section, limit)
		if err != nil {
			return nil, err
		}
		section, err = io.ReadAll(r)
		release()
		if err != nil {
			return nil, err
		}
	}
	recs := make([]cleanRecord, 0, h.RecordCount)
	for i := int32(0); i < h.RecordCount; i++ {
		length, n := binary.Varint(section)
		if n <= 0 || length < 1 || length > int64(len(section)-n) {
			return nil, fmt.Errorf("%w: record %d length", ErrCorruptBatch, i)
		}
		raw := section[:n+int(length)]
		rec, err := parseCleanRecord(raw[n:], h)
		if err != nil {
			return nil, fmt.Errorf("%w: record %d: %v", ErrCorruptBatch, i, err)
		}
		rec.raw = raw
		recs = append(recs, rec)
		section = section[len(raw):]
	}
	return recs, nil
}

// parseCleanRecord reads a record body: attributes, timestamp and offset
// deltas, key, value (headers are not needed).
func parseCleanRecord(body []byte, h BatchHeader) (cleanRecord, error) {
	var rec cleanRecord
	if len(body) < 1 {
		return rec, io.ErrUnexpectedEOF
	}
	body = body[1:]
	var fields [2]int64
	for i := range fields {
		v, n := binary.Varint(body)
		if n <= 0 {
			return rec, fmt.Errorf("bad varint")
		}
		fields[i], body = v, body[n:]
	}
	rec.timestamp, rec.offset = h.BaseTimestamp+fields[0], h.BaseOffset+fields[1]
	if h.Attributes&AttrLogAppendTime != 0 {
		rec.timestamp = h.MaxTimestamp
	}
	key, rest, err := varBytes(body)
	if err != nil {
		return rec, fmt.Errorf("key: %w", err)
	}
	value, _, err := varBytes(rest)
	if err != nil {
		return rec, fmt.Errorf("value: %w", err)
	}
	rec.key, rec.tombstone = key, value == nil
	return rec, nil
}

// varBytes reads a varint-length byte string; nil for length -1.
func varBytes(b []byte) (v, rest []byte, err error) {
	n, w := binary.Varint(b)
	switch {
	case w <= 0 || n < -1 || n > int64(len(b)-w):
		return nil, nil, fmt.Errorf("bad length")
	case n == -1:
		return nil, b[w:], nil
	}
	return b[w : w+int(n)], b[w+int(n):], nil
}

// rewriteBatch appends to dst the batch h (b its bytes) holding only kept,
// a subsequence of its records. As Kafka's cleaner does, the header keeps
// the base offset, last offset delta, partition leader epoch, producer id,
// epoch and base sequence, attributes and base timestamp; the record count
// and (CreateTime) max timestamp are those of the kept records, which are
// compressed again with the batch's codec. With no record kept the batch
// is an empty header, uncompressed, its timestamps the batch's maximum
// (Kafka's empty batch, kept for a producer's sequence or, here, a
// segment's end offset). An empty batch kept only for a segment's end
// (detach) leaves its producer and transaction: it is no producer's last,
// and as a transaction's batch it would hold the transaction's marker in
// the log for as long as it stays.
func rewriteBatch(dst, b []byte, h BatchHeader, kept []cleanRecord, detach bool) ([]byte, error) {
	start := len(dst)
	dst = append(dst, b[:BatchHeaderSize]...)
	attrs, baseTs, maxTs := h.Attributes, h.BaseTimestamp, h.MaxTimestamp
	if len(kept) == 0 {
		attrs &^= AttrCompressionMask
		baseTs = h.MaxTimestamp
		if detach {
			attrs &^= AttrTransactional
		}
	} else if h.Attributes&AttrLogAppendTime == 0 {
		maxTs = kept[0].timestamp
		for _, r := range kept[1:] {
			maxTs = max(maxTs, r.timestamp)
		}
	}
	if len(kept) > 0 {
		var raw []byte
		for _, r := range kept {
			raw = append(raw, r.raw...)
		}
		var err error
		if dst, err = codec.Compress(dst, h.Compression(), raw); err != nil {
			return dst[:start], err
		}
	}
	out := dst[start:]
	be := binary.BigEndian
	be.PutUint32(out[offLength:], uint32(len(out)-batchOverhead))
	be.PutUint16(out[offAttributes:], uint16(attrs))
	be.PutUint64(out[offBaseTimestamp:], uint64(baseTs))
	be.PutUint64(out[offMaxTimestamp:], uint64(maxTs))
	be.PutUint32(out[offRecordCount:], uint32(len(kept)))
	if len(kept) == 0 && detach {
		be.PutUint64(out[offProducerID:], math.MaxUint64) // -1: none
		be.PutUint16(out[offProducerEpoch:], math.MaxUint16)
		be.PutUint32(out[offBaseSequence:], math.MaxUint32)
	}
	be.PutUint32(out[offCRC:], crc32.Checksum(out[offAttributes:], castagnoli))
	return dst, nil
}

// offsetMap is the cleaner's key -> latest offset map over a log's dirty
// section: open addressing over 24-byte slots (an MD5 of the key, an
// offset), as Kafka's, so its memory is exactly its budget
// (log.cleaner.dedupe.buffer.size). It takes keys until loadFactor of its
// slots are used. A hash collision of two keys would drop the older
// one's latest record; at 128 bits that is never seen.
type offsetMap struct {
	slots []offsetSlot
	used  int
	limit int
}

type offsetSlot struct {
	hash   [md5.Size]byte
	offset int64 // -1: empty
}

const (
	offsetSlotBytes = md5.Size + 8
	// offsetMapLoadFactor is Kafka's log.cleaner.io.buffer.load.factor.
	offsetMapLoadFactor = 0.9
)

// newOffsetMap makes a map of at most budgetBytes, and no larger than
// needed for keysMax keys.
func newOffsetMap(budgetBytes, keysMax int64) *offsetMap {
	n := budgetBytes / offsetSlotBytes
	if need := int64(float64(keysMax)/offsetMapLoadFactor) + 1; need < n {
		n = need
	}
	n = max(n, 1)
	m := &offsetMap{slots: make([]offsetSlot, n), limit: int(float64(n) * offsetMapLoadFactor)}
	for i := range m.slots {
		m.slots[i].offset = -1
	}
	return m
}

func (m *offsetMap) find(h [md5.Size]byte) *offsetSlot {
	i := binary.BigEndian.Uint64(h[:8]) % uint64(len(m.slots))
	for {
		s := &m.slots[i]
		if s.offset < 0 || s.hash == h {
			return s
		}
		i = (i + 1) % uint64(len(m.slots))
	}
}

// put records offset as key's latest; false when the map is full and key
// is new (nothing changes).
func (m *offsetMap) put(key []byte, offset int64) bool {
	h := md5.Sum(key)
	s := m.find(h)
	if s.offset < 0 {
		if m.used >= m.limit {
			return false
		}
		m.used++
		s.hash = h
	}
	s.offset = offset
	return true
}

// get returns key's latest offset, -1 when absent.
func (m *offsetMap) get(key []byte) int64 {
	return m.find(md5.Sum(key)).offset
}

// retainRules decide what a cleaning keeps (Kafka's rules).
type retainRules struct {
	latest *offsetMap
	// tombstonesDropBefore: tombstones in a segment whose largest timestamp
	// is below it are past delete.retention.ms and go.
	tombstonesDropBefore int64
}

// keep reports whether rec, in a segment whose largest timestamp is
// segMaxTs, stays: it has a key, no later record of the key was mapped,
// and it is not a tombstone past its retention. Records at or above the
// map's end are not mapped and stay unless the map holds a later offset.
func (r retainRules) keep(rec cleanRecord, segMaxTs int64) bool {
	if rec.key == nil {
		return false // Kafka's cleaner drops keyless records of a compacted log
	}
	if rec.offset < r.latest.get(rec.key) {
		return false
	}
	return !rec.tombstone || !r.expired(segMaxTs)
}

// expired reports whether a segment whose largest timestamp is segMaxTs
// is past delete.retention.ms: its tombstones and markers may go.
func (r retainRules) expired(segMaxTs int64) bool {
	return segMaxTs < r.tombstonesDropBefore
}

// batchKeep says what happens to one batch: whole (unchanged), rewritten
// with kept, or dropped.
type batchKeep int

const (
	keepWhole batchKeep = iota
	keepSome
	keepNone
)

// cleanBatch decides the fate of batch h, outside transactions or
// committed (clean_txn.go decides the others), by its records; a batch
// that must stay (a producer's last, a segment group's last) stays at
// least as an empty header.
func cleanBatch(h BatchHeader, recs []cleanRecord, rules retainRules, segMaxTs int64, mustStay bool) (batchKeep, []cleanRecord) {
	kept := recs[:0:0]
	for _, r := range recs {
		if rules.keep(r, segMaxTs) {
			kept = append(kept, r)
		}
	}
	switch {
	case len(kept) == len(recs):
		return keepWhole, nil
	case len(kept) == 0 && !mustStay:
		return keepNone, nil
	}
	return keepSome, kept
}

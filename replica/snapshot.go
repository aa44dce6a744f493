package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/riffle/riffle/segment"
	"github.com/riffle/riffle/segment/vfs"
)

// Producer-state snapshot layout, version 2 (big-endian; doc.go shows it).
// Version 1, still read, had no coordinator epoch.
const (
	snapshotVersion     = 2
	snapshotHeaderSize  = 18 // version u16, crc u32, offset i64, count u32
	snapshotCRCStart    = 6  // the CRC covers every byte after itself
	snapshotEntrySize   = 15 // producer id i64, epoch i16, coordinator epoch i32, batch count u8
	snapshotEntrySizeV1 = 11 // producer id i64, epoch i16, batch count u8
	snapshotBatchSize   = 32 // first/last sequence i32, first/last offset i64, max timestamp i64
	snapshotSuffix      = ".snapshot"
	snapshotTempSuffix  = ".snapshot.tmp"
	snapshotOffsetWidth = 20
	// snapshotsKept bounds the snapshot files of a partition. Older ones
	// only help after a truncation below the newest.
	snapshotsKept = 3
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)

	errCorruptSnapshot = errors.New("corrupt producer-state snapshot")
)

// encodeSnapshot serialises the producer state that covers every batch below
// offset. Producers are written in id order, so equal states encode equally.
func encodeSnapshot(offset int64, s *producerStates) []byte {
	be := binary.BigEndian
	b := make([]byte, snapshotHeaderSize, snapshotHeaderSize+len(s.byID)*(snapshotEntrySize+snapshotBatchSize))
	be.PutUint16(b[0:], snapshotVersion)
	be.PutUint64(b[6:], uint64(offset))
	be.PutUint32(b[14:], uint32(len(s.byID)))
	for _, id := range s.sortedIDs() {
		e := s.byID[id]
		b = be.AppendUint64(b, uint64(id))
		b = be.AppendUint16(b, uint16(e.epoch))
		b = be.AppendUint32(b, uint32(e.coordinatorEpoch))
		b = append(b, byte(len(e.batches)))
		for _, m := range e.batches {
			b = be.AppendUint32(b, uint32(m.firstSeq))
			b = be.AppendUint32(b, uint32(m.lastSeq))
			b = be.AppendUint64(b, uint64(m.firstOffset))
			b = be.AppendUint64(b, uint64(m.lastOffset))
			b = be.AppendUint64(b, uint64(m.maxTimestamp))
		}
	}
	be.PutUint32(b[2:], crc32.Checksum(b[snapshotCRCStart:], castagnoli))
	return b
}

// decodeSnapshot parses a snapshot and checks it whole: version, CRC, counts
// against the bytes left, producers in increasing id order, and every batch
// below the snapshot offset.
func decodeSnapshot(b []byte) (int64, *producerStates, error) {
	be := binary.BigEndian
	if len(b) < snapshotHeaderSize {
		return 0, nil, fmt.Errorf("%w: %d bytes", errCorruptSnapshot, len(b))
	}
	version := be.Uint16(b[0:])
	entrySize := snapshotEntrySize
	switch version {
	case snapshotVersion:
	case 1:
		entrySize = snapshotEntrySizeV1
	default:
		return 0, nil, fmt.Errorf("%w: version %d", errCorruptSnapshot, version)
	}
	if want, got := be.Uint32(b[2:]), crc32.Checksum(b[snapshotCRCStart:], castagnoli); want != got {
		return 0, nil, fmt.Errorf("%w: crc %08x, computed %08x", errCorruptSnapshot, want, got)
	}
	offset := int64(be.Uint64(b[6:]))
	count := be.Uint32(b[14:])
	rest := b[snapshotHeaderSize:]
	if offset < 0 || uint64(count) > uint64(len(rest)/entrySize) {
		return 0, nil, fmt.Errorf("%w: offset %d, %d producers in %d bytes", errCorruptSnapshot, offset, count, len(rest))
	}
	s := newProducerStates()
	prevID := int64(-1)
	for range count {
		if len(rest) < entrySize {
			return 0, nil, fmt.Errorf("%w: truncated producer entry", errCorruptSnapshot)
		}
		id := int64(be.Uint64(rest))
		e := &producerEntry{epoch: int16(be.Uint16(rest[8:])), coordinatorEpoch: -1}
		if version == snapshotVersion {
			e.coordinatorEpoch = int32(be.Uint32(rest[10:]))
		}
		n := int(rest[entrySize-1])
		rest = rest[entrySize:]
		if id <= prevID || n == 0 || n > producerBatchesKept || len(rest) < n*snapshotBatchSize {
			return 0, nil, fmt.Errorf("%w: producer %d with %d batches", errCorruptSnapshot, id, n)
		}
		for range n {
			m := batchMeta{
				firstSeq:     int32(be.Uint32(rest)),
				lastSeq:      int32(be.Uint32(rest[4:])),
				firstOffset:  int64(be.Uint64(rest[8:])),
				lastOffset:   int64(be.Uint64(rest[16:])),
				maxTimestamp: int64(be.Uint64(rest[24:])),
			}
			rest = rest[snapshotBatchSize:]
			if m.firstOffset > m.lastOffset || m.lastOffset >= offset {
				return 0, nil, fmt.Errorf("%w: producer %d batch at offsets %d-%d, snapshot offset %d",
					errCorruptSnapshot, id, m.firstOffset, m.lastOffset, offset)
			}
			e.batches = append(e.batches, m)
		}
		s.byID[id] = e
		prevID = id
	}
	if len(rest) != 0 {
		return 0, nil, fmt.Errorf("%w: %d trailing bytes", errCorruptSnapshot, len(rest))
	}
	return offset, s, nil
}

// snapshotPath names a snapshot the way Kafka does: the 20-digit offset the
// state covers up to.
func snapshotPath(dir string, offset int64) string {
	return filepath.Join(dir, fmt.Sprintf("%0*d%s", snapshotOffsetWidth, offset, snapshotSuffix))
}

// snapshotDir is where a partition's producer-state snapshots live: its
// log's directory, through the log's filesystem, so that they obey the
// same crash semantics as the log (on a memory filesystem, only what was
// synced survives a simulated power failure).
type snapshotDir struct {
	fs  vfs.FS
	dir string
}

func snapshotDirOf(log *segment.Log) snapshotDir { return snapshotDir{log.FS(), log.Dir()} }

// list returns the offsets of the snapshot files, newest first, and removes
// leftover temporary files of an interrupted write.
func (d snapshotDir) list() ([]int64, error) {
	names, err := d.fs.ReadDir(d.dir)
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	var offsets []int64
	for _, name := range names {
		if strings.HasSuffix(name, snapshotTempSuffix) {
			if err := d.fs.Remove(filepath.Join(d.dir, name)); err != nil {
				return nil, fmt.Errorf("remove stale snapshot: %w", err)
			}
			continue
		}
		digits, ok := strings.CutSuffix(name, snapshotSuffix)
		if !ok || len(digits) != snapshotOffsetWidth {
			continue
		}
		if off, err := strconv.ParseInt(digits, 10, 64); err == nil {
			offsets = append(offsets, off)
		}
	}
	slices.Sort(offsets)
	slices.Reverse(offsets)
	return offsets, nil
}

// read loads and checks one snapshot file.
func (d snapshotDir) read(offset int64) (*producerStates, error) {
	path := snapshotPath(d.dir, offset)
	b, err := vfs.ReadFile(d.fs, path)
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	got, s, err := decodeSnapshot(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if got != offset {
		return nil, fmt.Errorf("%s: %w: holds offset %d", path, errCorruptSnapshot, got)
	}
	return s, nil
}

// write writes a snapshot atomically and durably (vfs.WriteFile), then
// removes all but the newest snapshotsKept snapshots. Those removals need
// not be durable: an old snapshot that comes back is below the newest.
func (d snapshotDir) write(offset int64, data []byte) error {
	if err := vfs.WriteFile(d.fs, snapshotPath(d.dir, offset), data); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	offsets, err := d.list()
	if err != nil {
		return err
	}
	for _, off := range offsets[min(len(offsets), snapshotsKept):] {
		if err := d.remove(off); err != nil {
			return err
		}
	}
	return nil
}

// removeAbove removes the snapshots above offset, durably: one that came
// back after power loss, once the log has grown past it again, would hold
// the state of batches a truncation removed.
func (d snapshotDir) removeAbove(offset int64) error {
	offsets, err := d.list()
	if err != nil {
		return err
	}
	removed := false
	for _, off := range offsets {
		if off > offset {
			if err := d.remove(off); err != nil {
				return err
			}
			removed = true
		}
	}
	if removed {
		if err := d.fs.SyncDir(d.dir); err != nil {
			return fmt.Errorf("remove snapshots above %d: %w", offset, err)
		}
	}
	return nil
}

func (d snapshotDir) remove(offset int64) error {
	if err := d.fs.Remove(snapshotPath(d.dir, offset)); err != nil {
		return fmt.Errorf("remove snapshot: %w", err)
	}
	return nil
}

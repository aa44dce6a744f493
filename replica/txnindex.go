package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/riffle/riffle/segment/vfs"
)

// The aborted-transactions index, Kafka's layout: beside each segment that
// holds abort markers, <base offset>.txnindex, a sequence of 34-byte
// entries, one per aborted transaction whose marker is in the segment, in
// marker order:
//
//	version i16 (0) | producer id i64 | first offset i64 | last offset i64 (the marker) | last stable offset i64
//
// (big-endian). The index is derived from the log: the partition appends
// an entry as each abort marker is appended (to the page cache, like the
// log), and on open and after a truncation it rewrites the files from its
// replay of the log, removing those of deleted segments, so a crash can
// leave no stale entry behind. After a log clean it rewrites them from its
// aborted transactions, less those the clean left without data
// (ForgetAborts), for the segments the clean merged.
const (
	txnIndexSuffix    = ".txnindex"
	txnIndexEntrySize = 34
)

func txnIndexPath(dir string, base int64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, txnIndexSuffix))
}

func appendTxnIndexEntry(b []byte, a AbortedTxn) []byte {
	be := binary.BigEndian
	b = be.AppendUint16(b, 0)
	b = be.AppendUint64(b, uint64(a.ProducerID))
	b = be.AppendUint64(b, uint64(a.FirstOffset))
	b = be.AppendUint64(b, uint64(a.LastOffset))
	return be.AppendUint64(b, uint64(a.LastStableOffset))
}

// segmentOf is the base of the segment holding offset, given the bases
// in order (-1 below the first).
func segmentOf(bases []int64, offset int64) int64 {
	i := sort.Search(len(bases), func(i int) bool { return bases[i] > offset })
	if i == 0 {
		return -1
	}
	return bases[i-1]
}

// writeTxnIndexEntry appends a's entry to the index of the segment that
// holds its marker.
func (p *Partition) writeTxnIndexEntry(a AbortedTxn) error {
	base := segmentOf(p.log.SegmentBases(), a.LastOffset)
	path := txnIndexPath(p.log.Dir(), base)
	f, err := p.log.FS().OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("txn index %s: %w", path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err == nil {
		_, err = f.WriteAt(appendTxnIndexEntry(nil, a), size-size%txnIndexEntrySize)
	}
	if err != nil {
		return fmt.Errorf("txn index %s: %w", path, err)
	}
	return nil
}

// rewriteTxnIndexes makes the .txnindex files hold exactly the aborted
// transactions in s, by segment: files that differ are rewritten, files
// of segments without aborts (or gone) removed.
func (p *Partition) rewriteTxnIndexes(s *txnStates) error {
	fsys, dir := p.log.FS(), p.log.Dir()
	bases := p.log.SegmentBases()
	want := map[int64][]byte{}
	for _, a := range s.aborted {
		if base := segmentOf(bases, a.LastOffset); base >= 0 {
			want[base] = appendTxnIndexEntry(want[base], a)
		}
	}
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("txn indexes: %w", err)
	}
	for _, name := range names {
		stem, ok := strings.CutSuffix(name, txnIndexSuffix)
		if !ok {
			continue
		}
		base, err := strconv.ParseInt(stem, 10, 64)
		if _, wanted := want[base]; err == nil && wanted {
			continue
		}
		if err := fsys.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("txn indexes: %w", err)
		}
	}
	for base, data := range want {
		path := txnIndexPath(dir, base)
		if old, err := vfs.ReadFile(fsys, path); err == nil && bytes.Equal(old, data) {
			continue
		}
		if err := vfs.WriteFile(fsys, path, data); err != nil {
			return fmt.Errorf("txn index %s: %w", path, err)
		}
	}
	return nil
}

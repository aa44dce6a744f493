package segment

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/riffle/riffle/segment/vfs"
)

// Writing a cleaned segment group and swapping it in, Kafka's way:
//
//  1. <base>.log.cleaned (and .index.cleaned, .timeindex.cleaned) are
//     written and synced, <base> the group's first base offset;
//  2. the indexes, then the log, are renamed to .swap, and the directory
//     synced: the log's .swap is the commit point;
//  3. the old segments are renamed to .deleted (unlinked later, once no
//     region holds them, as retention's are);
//  4. the .swap files are renamed to their live names, indexes first, and
//     the directory synced.
//
// The cleaned segment ends exactly where the group did (its last batch
// stays, at least as an empty batch), so at open a <base>.log.swap names
// the old segments it replaces: those with bases in [base, its end). Open
// deletes them, renames the .swap to the live name, rebuilds its indexes by
// a full scan, and deletes any .cleaned file: a crash at any step leaves
// the group old (before the commit point) or new (after it).

const (
	cleanedSuffix = ".cleaned"
	swapSuffix    = ".swap"
)

// errCleanRaced: the log changed under a clean (truncation, retention,
// close), which stops with the groups it swapped.
var errCleanRaced = errors.New("segments changed during the clean")

// cleanPolicy is what decides a clean's batches.
type cleanPolicy struct {
	rules        retainRules
	txns         *cleanTxns
	producerLast map[int64]int64 // producer id -> base offset of its last batch
	forgetAborts func([]int64)
}

// cleanGroup rewrites one group of segments into a cleaned segment and
// swaps it in.
func (l *Log) cleanGroup(g []cleanSource, pol cleanPolicy, cfg Config, io *cleanIO) error {
	base, end := g[0].base(), g[len(g)-1].next
	s, err := createSegmentAs(l.opts.FS, l.dir, base, cleanedSuffix, cfg, l.files)
	if err != nil {
		return fmt.Errorf("log %s: clean: %w", l.dir, err)
	}
	installed := false
	defer func() {
		if !installed {
			s.close()
			// Best effort: the next open removes .cleaned files anyway.
			_ = removeFiles(l.opts.FS, segmentFileNames(l.dir, base, cleanedSuffix))
		}
	}()
	nowMs := l.opts.nowMs()
	var out []byte
	for gi, src := range g {
		lastPos := int64(-1)
		if gi == len(g)-1 {
			lastPos = lastBatchPos(&src.view)
		}
		var werr error
		err := src.view.scan(0, func(pos int64, h BatchHeader) bool {
			b, err := src.view.readBatch(pos, h)
			if err == nil {
				err = io.read(h.Size())
			}
			if err != nil {
				werr = err
				return false
			}
			producerLast := h.ProducerID >= 0 && pol.producerLast[h.ProducerID] == h.BaseOffset
			mustStay := pos == lastPos || producerLast
			fate, byTxn := pol.txns.fate(h, mustStay, pol.rules.expired(src.maxTs))
			var kept []cleanRecord
			if !byTxn {
				fate = keepWhole
				if recs, err := batchRecords(b, h, decompressedBytesMax(h, cfg.BatchBytesMax)); err == nil {
					fate, kept = cleanBatch(h, recs, pol.rules, src.maxTs, mustStay)
				}
			}
			switch fate {
			case keepNone:
				return true
			case keepSome:
				if out, err = rewriteBatch(out[:0], b, h, kept, !producerLast); err != nil {
					werr = err
					return false
				}
				b = out
			}
			werr = l.writeCleaned(s, b, cfg, nowMs, io)
			return werr == nil
		})
		if err = errors.Join(err, werr); err != nil {
			return fmt.Errorf("log %s: clean segment %d: %w", l.dir, src.base(), err)
		}
	}
	if s.next != end {
		// Only an empty old segment can cause it; keep the group as it is.
		return fmt.Errorf("log %s: %w: cleaned group %d ends at %d, not %d", l.dir, errCleanRaced, base, s.next, end)
	}
	if err := s.finish(); err != nil {
		return fmt.Errorf("log %s: clean: %w", l.dir, err)
	}
	for _, f := range s.files() {
		if err := f.f.Sync(); err != nil {
			return fmt.Errorf("log %s: clean: sync: %w", l.dir, err)
		}
	}
	if f := pol.txns.takeForget(); len(f) > 0 && pol.forgetAborts != nil {
		pol.forgetAborts(f)
	}
	if err := l.swapIn(g, s); err != nil {
		return err
	}
	installed = true
	return nil
}

func (l *Log) writeCleaned(s *segment, b []byte, cfg Config, nowMs int64, io *cleanIO) error {
	v, err := validateStoredBatch(b, batchBytesMax)
	if err != nil {
		return fmt.Errorf("rewritten batch: %w", err)
	}
	h := v.Header()
	if err := s.append(b, []BatchHeader{h}, cfg, nowMs); err != nil {
		return err
	}
	return io.wrote(h.Size())
}

// lastBatchPos is the position of the segment's last batch, -1 if none.
func lastBatchPos(s *segment) int64 {
	last := int64(-1)
	_ = s.scan(0, func(pos int64, _ BatchHeader) bool { last = pos; return true })
	return last
}

// swapIn replaces the group's segments by s, if they are still the log's.
// A failure after the commit point fails the log: the next open finishes
// the swap.
func (l *Log) swapIn(g []cleanSource, s *segment) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	i := l.segmentFor(g[0].base())
	if i+len(g) >= len(l.segments) {
		return fmt.Errorf("log %s: %w", l.dir, errCleanRaced)
	}
	old := l.segments[i : i+len(g)]
	for j, src := range g {
		if old[j] != src.seg || old[j].size != src.view.size {
			return fmt.Errorf("log %s: %w", l.dir, errCleanRaced)
		}
	}
	fsys, base := l.opts.FS, s.base
	if err := renameAll(fsys, segmentFileNames(l.dir, base, cleanedSuffix), segmentFileNames(l.dir, base, swapSuffix)); err != nil {
		return fmt.Errorf("log %s: clean: %w", l.dir, err)
	}
	if err := fsys.SyncDir(l.dir); err != nil {
		return l.failSwap(err)
	}
	deleted, err := l.deleteSegments(old)
	if err != nil {
		// The old segments not deleted stay in memory, without the new
		// one, which the next open installs from its .swap.
		l.segments = append(append(l.segments[:i:i], old[deleted:]...), l.segments[i+len(g):]...)
		return l.failSwap(err)
	}
	l.segments = append(append(l.segments[:i:i], s), l.segments[i+len(g):]...)
	if err := renameAll(fsys, segmentFileNames(l.dir, base, swapSuffix), segmentFileNames(l.dir, base, "")); err != nil {
		return l.failSwap(err)
	}
	if err := fsys.SyncDir(l.dir); err != nil {
		return l.failSwap(err)
	}
	return nil
}

// failSwap stops appends after a swap failed past its commit point; reads
// go on from the segments in memory.
func (l *Log) failSwap(err error) error {
	l.failed = fmt.Errorf("clean swap: %w", err)
	return fmt.Errorf("log %s: %w", l.dir, l.failed)
}

// segmentFileNames are a segment's index, time index and log file names
// with extra appended, in the order a swap renames them (the log last).
func segmentFileNames(dir string, base int64, extra string) []string {
	return []string{
		segmentPath(dir, base, indexSuffix) + extra,
		segmentPath(dir, base, timeIndexSuffix) + extra,
		segmentPath(dir, base, logSuffix) + extra,
	}
}

func renameAll(fsys vfs.FS, from, to []string) error {
	for i := range from {
		if err := fsys.Rename(from[i], to[i]); err != nil {
			return err
		}
	}
	return nil
}

func removeFiles(fsys vfs.FS, names []string) error {
	var errs []error
	for _, n := range names {
		if err := fsys.Remove(n); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// finishSwaps, at open, completes the swaps a crash interrupted and
// removes unfinished cleanings. It returns the bases of swapped-in
// segments, whose indexes are rebuilt by a full scan.
func finishSwaps(fsys vfs.FS, dir string) (map[int64]bool, error) {
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	rebuild := map[int64]bool{}
	var live []int64
	for _, n := range names {
		if strings.HasSuffix(n, cleanedSuffix) || (strings.HasSuffix(n, swapSuffix) && !strings.HasSuffix(n, logSuffix+swapSuffix)) {
			// An index .swap is removed too: its log either is still a
			// .swap (rebuilt below) or was renamed live (rebuilt below
			// by its missing index, as any segment without one is).
			if err := fsys.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			continue
		}
		if stem, ok := strings.CutSuffix(n, logSuffix); ok {
			if b, err := strconv.ParseInt(stem, 10, 64); err == nil && len(stem) == 20 {
				live = append(live, b)
			}
		}
	}
	for _, n := range names {
		stem, ok := strings.CutSuffix(n, logSuffix+swapSuffix)
		base, err := strconv.ParseInt(stem, 10, 64)
		if !ok || err != nil || len(stem) != 20 {
			continue
		}
		end, err := segmentFileEnd(fsys, filepath.Join(dir, n), base)
		if err != nil {
			return nil, err
		}
		for _, b := range live {
			if b >= base && b < end {
				if err := removeFiles(fsys, segmentFileNames(dir, b, "")); err != nil {
					return nil, err
				}
			}
		}
		if err := removeFiles(fsys, segmentFileNames(dir, base, "")[:2]); err != nil {
			return nil, err
		}
		if err := fsys.Rename(filepath.Join(dir, n), segmentPath(dir, base, logSuffix)); err != nil {
			return nil, err
		}
		rebuild[base] = true
	}
	if len(rebuild) > 0 {
		return rebuild, fsys.SyncDir(dir)
	}
	return rebuild, nil
}

// segmentFileEnd reads the batch headers of a (synced, whole) segment
// file and returns the offset after its last batch.
func segmentFileEnd(fsys vfs.FS, path string, base int64) (int64, error) {
	f, err := fsys.OpenFile(path, 0, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return 0, err
	}
	end := base
	var buf [BatchHeaderSize]byte
	for pos := int64(0); pos+BatchHeaderSize <= size; {
		if _, err := f.ReadAt(buf[:], pos); err != nil {
			return 0, fmt.Errorf("%s at %d: %w", path, pos, err)
		}
		h, err := ParseBatchHeader(buf[:])
		if err != nil || h.Size() < BatchHeaderSize {
			break
		}
		end, pos = h.LastOffset()+1, pos+h.Size()
	}
	return end, nil
}

package segment

import (
	"errors"
	"fmt"
	"math"
)

// One clean of one log, Kafka's LogCleaner.cleanLog: map the dirty
// section's keys to their latest offsets, rewrite the segments from the
// first up to the map's end group by group, swap each group in
// (clean_swap.go).

// CleanLimits bound a clean: the offsets it may not reach and its budget.
type CleanLimits struct {
	// FirstDirty is where the last clean's map ended (the cleaner
	// checkpoint); below it the log is clean.
	FirstDirty int64
	// StableOffset bounds what may be cleaned: Kafka's last stable offset,
	// the HW until transactions exist. Records at or above it may still be
	// truncated away.
	StableOffset int64
	// Aborted lists the partition's aborted transactions (its .txnindex):
	// their records are removed.
	Aborted []AbortedTxn
	// ForgetAborts, if set, is given before a cleaned group is swapped in
	// the abort markers in it whose transaction has no data left (the
	// partition drops them from its aborted transactions; Kafka's cleaned
	// .txnindex leaves them out).
	ForgetAborts func(markerOffsets []int64)
	// DedupeBufferBytes is the key map's memory
	// (log.cleaner.dedupe.buffer.size).
	DedupeBufferBytes int64
	// Throttle is called with the bytes read or written so far and may
	// sleep (log.cleaner.io.max.bytes.per.second); it returns an error to
	// abandon the clean (shutdown).
	Throttle func(bytes int64) error
}

// CleanResult describes one clean.
type CleanResult struct {
	FirstDirty   int64 // the new cleaner checkpoint: the map's end
	BytesRead    int64
	BytesWritten int64
	Segments     int // old segments replaced
}

// Dirtiness is how much of a compacted log a clean would cover.
type Dirtiness struct {
	FirstDirty       int64
	FirstUncleanable int64 // a segment base: the active segment, or an earlier one too recent or not yet stable
	CleanBytes       int64 // segments below FirstDirty
	DirtyBytes       int64 // segments from FirstDirty up to FirstUncleanable
	// Overdue: a dirty record is older than max.compaction.lag.ms.
	Overdue bool
}

// Ratio is the dirty share of the cleanable log (min.cleanable.dirty.ratio).
func (d Dirtiness) Ratio() float64 {
	if d.DirtyBytes == 0 {
		return 0
	}
	return float64(d.DirtyBytes) / float64(d.CleanBytes+d.DirtyBytes)
}

// Dirtiness measures the log for the cleaner's choice; ok is false when
// the log is not compacted.
func (l *Log) Dirtiness(firstDirty, stableOffset int64) (Dirtiness, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if !l.cfg.Compact || l.closed {
		return Dirtiness{}, false
	}
	return l.dirtinessLocked(firstDirty, stableOffset, l.opts.nowMs()), true
}

// dirtinessLocked: the cleanable segments are the sealed ones wholly below
// the stable offset whose records are all older than min.compaction.lag.ms
// (Kafka: the active segment, the first unstable offset and the lag bound
// the cleanable section).
func (l *Log) dirtinessLocked(firstDirty, stable, nowMs int64) Dirtiness {
	d := Dirtiness{FirstDirty: max(firstDirty, l.logStart, l.segments[0].base)}
	sealed := l.segments[:len(l.segments)-1]
	d.FirstUncleanable = l.active().base
	for _, s := range sealed {
		// Without a lag, a segment's timestamps do not matter (a producer's
		// clock ahead of ours must not hold compaction back).
		if s.next > stable || l.cfg.MinCompactionLagMs > 0 && nowMs-s.maxTs < l.cfg.MinCompactionLagMs {
			d.FirstUncleanable = s.base
			break
		}
	}
	d.FirstDirty = min(d.FirstDirty, d.FirstUncleanable)
	for _, s := range sealed {
		switch {
		case s.base >= d.FirstUncleanable:
		case s.next <= d.FirstDirty:
			d.CleanBytes += s.size
		default:
			d.DirtyBytes += s.size
			// Kafka takes the first dirty segment's first timestamp; the
			// largest is what the segment keeps in memory, a later bound.
			if !d.Overdue && s.maxTs >= 0 && nowMs-s.maxTs > l.cfg.MaxCompactionLagMs {
				d.Overdue = true
			}
		}
	}
	return d
}

// cleanSource is a sealed segment as the clean reads it: its file held
// open, its size and largest timestamp as of the plan.
type cleanSource struct {
	seg   *segment // identity, checked again at the swap
	view  segment  // base, log file, size: for reading without the lock
	maxTs int64
	next  int64
}

// Clean compacts the log once, within limits. It holds the log's lock
// only to plan and, for each group of segments, to swap it in; appends and
// reads go on meanwhile. A truncation or retention that removes a segment
// under it ends the clean early (the groups swapped so far stay).
func (l *Log) Clean(lim CleanLimits) (CleanResult, error) {
	res := CleanResult{FirstDirty: lim.FirstDirty}
	l.mu.RLock()
	if err := l.usable(); err != nil {
		l.mu.RUnlock()
		return res, err
	}
	cfg, nowMs := l.cfg, l.opts.nowMs()
	d := l.dirtinessLocked(lim.FirstDirty, lim.StableOffset, nowMs)
	var srcs []cleanSource
	for _, s := range l.segments[:len(l.segments)-1] {
		if s.base >= d.FirstUncleanable {
			break
		}
		srcs = append(srcs, cleanSource{seg: s, view: segment{base: s.base, log: s.log.acquire(), size: s.size}, maxTs: s.maxTs, next: s.next})
	}
	l.mu.RUnlock()
	defer func() {
		for _, s := range srcs {
			s.view.log.release()
		}
	}()
	if !cfg.Compact || d.DirtyBytes == 0 {
		return res, nil
	}
	io := &cleanIO{throttle: lim.Throttle, res: &res}
	txns := newCleanTxns(lim.Aborted)
	keys, mapEnd, err := l.buildOffsetMap(srcs, d, lim.DedupeBufferBytes, cfg, txns, io)
	if err != nil {
		return res, err
	}
	last, err := l.producersLastBatches()
	if err != nil {
		return res, err
	}
	rules := retainRules{latest: keys, tombstonesDropBefore: nowMs - cfg.DeleteRetentionMs}
	if cfg.DeleteRetentionMs > nowMs {
		rules.tombstonesDropBefore = math.MinInt64
	}
	n := 0
	for n < len(srcs) && srcs[n].base() < mapEnd {
		n++
	}
	for _, g := range groupSegments(srcs[:n], cfg) {
		if err := l.cleanGroup(g, cleanPolicy{rules, txns, last, lim.ForgetAborts}, cfg, io); err != nil {
			if errors.Is(err, errCleanRaced) {
				l.opts.Logger.Info("segment: clean ended early: the log changed under it", "dir", l.dir, "err", err)
				return res, nil
			}
			return res, err
		}
		res.Segments += len(g)
	}
	res.FirstDirty = mapEnd
	return res, nil
}

func (s cleanSource) base() int64 { return s.view.base }

// cleanIO counts the clean's bytes and throttles them.
type cleanIO struct {
	throttle func(int64) error
	res      *CleanResult
}

func (c *cleanIO) read(n int64) error {
	c.res.BytesRead += n
	return c.wait()
}

func (c *cleanIO) wrote(n int64) error {
	c.res.BytesWritten += n
	return c.wait()
}

func (c *cleanIO) wait() error {
	if c.throttle == nil {
		return nil
	}
	return c.throttle(c.res.BytesRead + c.res.BytesWritten)
}

// buildOffsetMap maps each key of the dirty section to its latest offset,
// until the budget is full. mapEnd is where the map stops: the first
// uncleanable offset, or the first batch that did not fit (every key of
// the batches before it is mapped). Markers and the batches of aborted
// transactions are not mapped: nothing may be dropped in their favour.
func (l *Log) buildOffsetMap(srcs []cleanSource, d Dirtiness, budget int64, cfg Config, txns *cleanTxns, io *cleanIO) (*offsetMap, int64, error) {
	keys := newOffsetMap(budget, d.FirstUncleanable-d.FirstDirty)
	for _, src := range srcs {
		if src.next <= d.FirstDirty {
			continue
		}
		full := false
		var batchErr error
		err := src.view.scan(0, func(pos int64, h BatchHeader) bool {
			if h.LastOffset() < d.FirstDirty || h.Attributes&AttrControl != 0 || txns.isAbortedData(h) {
				return true
			}
			b, err := src.view.readBatch(pos, h)
			if err == nil {
				err = io.read(h.Size())
			}
			if err != nil {
				batchErr = err
				return false
			}
			recs, err := batchRecords(b, h, decompressedBytesMax(h, cfg.BatchBytesMax))
			if err != nil {
				// Kept whole by the rewrite too; its keys do not count.
				l.opts.Logger.Warn("segment: cleaner cannot read a batch, keeping it", "dir", l.dir, "offset", h.BaseOffset, "err", err)
				return true
			}
			for _, r := range recs {
				if r.key != nil && r.offset >= d.FirstDirty && !keys.put(r.key, r.offset) {
					full = true
				}
			}
			if full {
				d.FirstUncleanable = h.BaseOffset
			}
			return !full
		})
		if err = errors.Join(err, batchErr); err != nil {
			return nil, 0, fmt.Errorf("log %s: clean: map segment %d: %w", l.dir, src.base(), err)
		}
		if full {
			break
		}
	}
	return keys, d.FirstUncleanable, nil
}

// producersLastBatches returns the base offset of each idempotent
// producer's last batch in the log, which a clean keeps (at least as an
// empty batch) so that its sequence survives a reload of producer state.
func (l *Log) producersLastBatches() (map[int64]int64, error) {
	last := map[int64]int64{}
	err := l.ScanBatches(0, func(h BatchHeader) error {
		if h.ProducerID >= 0 {
			last[h.ProducerID] = h.BaseOffset
		}
		return nil
	})
	return last, err
}

// groupSegments splits consecutive segments into groups that each fit one
// segment: at most segment.bytes together and an offset range an index
// can address.
func groupSegments(srcs []cleanSource, cfg Config) [][]cleanSource {
	var groups [][]cleanSource
	for i := 0; i < len(srcs); {
		j, size := i+1, srcs[i].view.size
		for j < len(srcs) && size+srcs[j].view.size <= cfg.SegmentBytes && srcs[j].next-1-srcs[i].base() <= math.MaxInt32 {
			size += srcs[j].view.size
			j++
		}
		groups = append(groups, srcs[i:j])
		i = j
	}
	return groups
}

package segment

import (
	"fmt"
	"slices"
	"strconv"
)

// epochEntry says that leader epoch Epoch's first offset is StartOffset.
type epochEntry struct {
	Epoch       int32
	StartOffset int64
}

// epochCache is the leader epoch cache: entries strictly increasing in both
// epoch and start offset. It is pure state; Log persists it.
type epochCache struct {
	entries []epochEntry
}

// assign records that epoch starts at start, dropping any entry that
// conflicts (an epoch or start offset at or above the new one). It reports
// whether the cache changed.
func (c *epochCache) assign(epoch int32, start int64) bool {
	keep, changed := c.cut(epoch, start)
	if changed {
		c.entries = append(c.entries[:keep], epochEntry{epoch, start})
	}
	return changed
}

// withAssigned is assign on a copy, leaving c as it is.
func (c *epochCache) withAssigned(epoch int32, start int64) (epochCache, bool) {
	keep, changed := c.cut(epoch, start)
	if !changed {
		return *c, false
	}
	return epochCache{entries: append(slices.Clone(c.entries[:keep]), epochEntry{epoch, start})}, true
}

// cut returns how many entries stay when epoch starts at start, and whether
// the cache changes.
func (c *epochCache) cut(epoch int32, start int64) (keep int, changed bool) {
	keep = len(c.entries)
	if epoch < 0 {
		return keep, false
	}
	if keep > 0 {
		last := c.entries[keep-1]
		if last.Epoch == epoch && start >= last.StartOffset {
			return keep, false
		}
	}
	for keep > 0 && (c.entries[keep-1].Epoch >= epoch || c.entries[keep-1].StartOffset >= start) {
		keep--
	}
	return keep, true
}

func (c *epochCache) latest() int32 {
	if len(c.entries) == 0 {
		return -1
	}
	return c.entries[len(c.entries)-1].Epoch
}

// endOffsetFor follows Kafka's OffsetForLeaderEpoch rules: the latest epoch
// ends at the LEO; an older epoch ends where the next known epoch starts and
// is reported as the largest known epoch <= it; an epoch below every known
// one ends at the first start offset; an unknown newer epoch is (-1, -1).
func (c *epochCache) endOffsetFor(epoch int32, leo int64) (int32, int64) {
	if epoch < 0 || len(c.entries) == 0 {
		return -1, -1
	}
	if epoch == c.latest() {
		return epoch, leo
	}
	for i, e := range c.entries {
		if e.Epoch > epoch {
			if i == 0 {
				return epoch, e.StartOffset
			}
			return c.entries[i-1].Epoch, e.StartOffset
		}
	}
	return -1, -1
}

// truncateFromEnd drops the epochs that start at or after end (log truncation).
func (c *epochCache) truncateFromEnd(end int64) bool {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].StartOffset >= end {
		n--
	}
	changed := n != len(c.entries)
	c.entries = c.entries[:n]
	return changed
}

// truncateFromStart drops epochs wholly below start and moves the start of
// the one holding start up to it (log start offset advanced).
func (c *epochCache) truncateFromStart(start int64) bool {
	if len(c.entries) == 0 {
		return false
	}
	i := 0
	for i+1 < len(c.entries) && c.entries[i+1].StartOffset <= start {
		i++
	}
	changed := i > 0
	c.entries = append(c.entries[:0], c.entries[i:]...)
	if c.entries[0].StartOffset < start {
		c.entries[0].StartOffset = start
		changed = true
	}
	return changed
}

func (c *epochCache) encode() []string {
	lines := make([]string, len(c.entries))
	for i, e := range c.entries {
		lines[i] = fmt.Sprintf("%d %d", e.Epoch, e.StartOffset)
	}
	return lines
}

// decodeEpochs parses a checkpoint's entries, which encode wrote from a
// cache: epochs and start offsets non-negative and strictly increasing.
func decodeEpochs(entries [][]string) (epochCache, error) {
	var c epochCache
	for _, e := range entries {
		epoch, err1 := strconv.ParseInt(e[0], 10, 32)
		start, err2 := strconv.ParseInt(e[1], 10, 64)
		bad := err1 != nil || err2 != nil || epoch < 0 || start < 0
		if n := len(c.entries); !bad && n > 0 {
			bad = int32(epoch) <= c.entries[n-1].Epoch || start <= c.entries[n-1].StartOffset
		}
		if bad {
			return epochCache{}, fmt.Errorf("%w: bad epoch entry %q", ErrCorruptCheckpoint, e)
		}
		c.entries = append(c.entries, epochEntry{int32(epoch), start})
	}
	return c, nil
}

package kafka

import (
	"cmp"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/replica"
)

// legacyOffsets answers ListOffsets v0 (Kafka's
// UnifiedLog.legacyFetchOffsetsBefore): up to MaxNumOffsets offsets,
// descending, taken from the segments' start offsets and the log end, each
// paired with a time (a segment's largest timestamp standing in for its
// file's mtime, the log end with now). -1 starts from the log end, -2 from
// the first segment, another timestamp from the last entry at or before
// it. A consumer's answer never exceeds HW: offsets above it are replaced
// by HW.
func (b *Broker) legacyOffsets(p *replica.Partition, replicaID int32, rp *kmsg.ListOffsetsRequestTopicPartition) []int64 {
	type entry struct{ offset, timeMs int64 }
	segs := p.Log().SegmentTimes()
	entries := make([]entry, 0, len(segs)+1)
	for _, s := range segs {
		entries = append(entries, entry{s.Start, s.MaxTimestamp})
	}
	if segs[len(segs)-1].Bytes > 0 {
		entries = append(entries, entry{p.Log().LogEndOffset(), b.cfg.Now().UnixMilli()})
	}
	var start int
	switch rp.Timestamp {
	case timestampLatest:
		start = len(entries) - 1
	case timestampEarliest:
		start = 0
	default:
		start = len(entries) - 1
		for start >= 0 && entries[start].timeMs > rp.Timestamp {
			start--
		}
	}
	n := max(0, min(int(rp.MaxNumOffsets), start+1))
	offsets := make([]int64, 0, n)
	for i := start; i > start-n; i-- {
		offsets = append(offsets, entries[i].offset)
	}
	slices.SortFunc(offsets, func(x, y int64) int { return cmp.Compare(y, x) })
	if replicaID != -1 {
		return offsets
	}
	hw := p.HighWatermark()
	i := 0
	for i < len(offsets) && offsets[i] > hw {
		i++
	}
	if i > 0 {
		offsets = append([]int64{hw}, offsets[i:]...)
	}
	return offsets
}

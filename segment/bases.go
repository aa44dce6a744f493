package segment

// SegmentBases lists the base offsets of the live segments, oldest first:
// the names of their files, which per-segment files kept beside them (a
// partition's .txnindex) follow.
func (l *Log) SegmentBases() []int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]int64, len(l.segments))
	for i, s := range l.segments {
		out[i] = s.base
	}
	return out
}

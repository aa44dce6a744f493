package segment

// SegmentTime is one live segment as ListOffsets v0 sees it.
type SegmentTime struct {
	Start        int64 // first readable offset: the base, or the log start within the first segment
	MaxTimestamp int64 // largest record timestamp, -1 when none
	Bytes        int64
}

// SegmentTimes lists the live segments, oldest first. Kafka's ListOffsets
// v0 answers with segment boundaries, not record offsets.
func (l *Log) SegmentTimes() []SegmentTime {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]SegmentTime, len(l.segments))
	for i, s := range l.segments {
		out[i] = SegmentTime{Start: max(s.base, l.logStart), MaxTimestamp: s.maxTs, Bytes: s.size}
	}
	return out
}

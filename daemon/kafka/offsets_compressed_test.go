package kafka

import (
	"testing"

	"github.com/riffle/riffle/segment"
	"github.com/riffle/riffle/segment/codec/codectest"
)

// ListOffsets by timestamp and -3 find the exact record inside a compressed
// batch, as Kafka does, not the batch's first or last offset.
func TestListOffsetsCompressed(t *testing.T) {
	// Out of order: the largest (5009) first at offset 6, and again at 8.
	deltas := []int64{0, 5, 3, 9, 2, 9, 7}
	recs := make([]segment.Record, len(deltas))
	for i, d := range deltas {
		recs[i] = segment.Record{Value: []byte("a value, a value, a value"), TimestampDelta: d}
	}
	for _, id := range codectest.Compressed {
		s := newTopicStack(t, Config{}, 1)
		s.produce(t, 0, 3, 1000) // offsets 0-2, timestamps 1000-1002
		if _, err := s.partition(0).AppendAsLeader(valid(t, compressedBatchAt(t, id, 5000, recs)), -1, -1); err != nil {
			t.Fatalf("codec %d: %v", id, err) // offsets 3-9
		}
		s.produce(t, 0, 3, 2000) // 10-12, 2000-2002
		for _, c := range []struct{ ts, offset, timestamp int64 }{
			{1500, 3, 5000},
			{5004, 4, 5005},
			{5006, 6, 5009},
			{timestampMax, 6, 5009},
		} {
			p := s.listOffsets(t, 7, c.ts, 0)[0]
			if p.ErrorCode != 0 || p.Offset != c.offset || p.Timestamp != c.timestamp {
				t.Errorf("codec %d, timestamp %d: error %d, offset %d, timestamp %d; want %d, %d",
					id, c.ts, p.ErrorCode, p.Offset, p.Timestamp, c.offset, c.timestamp)
			}
		}
	}
}

package segment

import (
	"testing"
)

func TestAppendAcrossRollsAndReopen(t *testing.T) {
	e := newEnv(t, smallConfig())
	d, l := e.openLog()
	res := appendN(t, l, 60, 3, 1000)
	for i, r := range res {
		if r.BaseOffset != int64(3*i) || r.LastOffset != int64(3*i+2) || r.LogAppendTime != -1 {
			t.Fatalf("append %d: %+v", i, r)
		}
	}
	if l.LogEndOffset() != 180 {
		t.Fatalf("LEO %d, want 180", l.LogEndOffset())
	}
	if l.SegmentCount() < 5 {
		t.Fatalf("%d segments, want rolls by segment.bytes", l.SegmentCount())
	}
	checkContiguous(t, readAll(t, l, 0), 0, 180)
	segments := l.SegmentCount()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d = e.open()
	defer d.Close()
	l = d.Log("my.topic-x", 3)
	if l == nil {
		t.Fatal("log not reopened")
	}
	if l.LogEndOffset() != 180 || l.SegmentCount() != segments || l.RecoveryPoint() != 180 {
		t.Fatalf("reopened: LEO %d segments %d recovery point %d", l.LogEndOffset(), l.SegmentCount(), l.RecoveryPoint())
	}
	checkContiguous(t, readAll(t, l, 0), 0, 180)
	mustAppend(t, l, testBatch(5000, 2))
	checkContiguous(t, readAll(t, l, 0), 0, 182)
}

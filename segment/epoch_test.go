package segment

import "testing"

func TestEpochCache(t *testing.T) {
	var c epochCache
	if e, o := c.endOffsetFor(1, 100); e != -1 || o != -1 {
		t.Fatalf("empty cache: %d, %d", e, o)
	}
	c.assign(1, 0)
	c.assign(1, 5) // same epoch, later start: no change
	c.assign(3, 10)
	c.assign(5, 20)
	cases := []struct {
		epoch     int32
		wantEpoch int32
		wantEnd   int64
	}{
		{5, 5, 30},   // latest: LEO
		{3, 3, 20},   // next epoch's start
		{4, 3, 20},   // unknown middle epoch: the largest below
		{0, 0, 0},    // below every epoch: the first start offset
		{6, -1, -1},  // newer than any
		{-1, -1, -1}, // undefined
	}
	for _, tc := range cases {
		if e, o := c.endOffsetFor(tc.epoch, 30); e != tc.wantEpoch || o != tc.wantEnd {
			t.Errorf("endOffsetFor(%d) = %d, %d; want %d, %d", tc.epoch, e, o, tc.wantEpoch, tc.wantEnd)
		}
	}
	// A new leader epoch starting below existing entries replaces them.
	c.assign(6, 15)
	if got := c.encode(); len(got) != 3 || got[2] != "6 15" {
		t.Fatalf("after conflicting assign: %v", got)
	}
	c.truncateFromEnd(10)
	if c.latest() != 1 {
		t.Fatalf("truncateFromEnd(10): latest %d", c.latest())
	}
	c.assign(3, 10)
	c.truncateFromStart(12)
	if got := c.encode(); len(got) != 1 || got[0] != "3 12" {
		t.Fatalf("truncateFromStart(12): %v", got)
	}
}

func TestEpochCachePersistsAndTruncates(t *testing.T) {
	e := newEnv(t, smallConfig())
	d, l := e.openLog()
	appendN(t, l, 2, 1, 0)
	if err := l.AssignEpochStart(4, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(valid(testBatch(0, 1)), 4); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = e.open()
	defer d.Close()
	l = d.Log("my.topic-x", 3)
	if e, o := l.EndOffsetForEpoch(1); e != 1 || o != 2 {
		t.Fatalf("EndOffsetForEpoch(1) = %d, %d", e, o)
	}
	if e, o := l.EndOffsetForEpoch(4); e != 4 || o != 3 {
		t.Fatalf("EndOffsetForEpoch(4) = %d, %d", e, o)
	}
}

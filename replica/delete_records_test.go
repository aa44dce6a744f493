package replica

import (
	"errors"
	"testing"
	"time"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/segment"
)

func TestDeleteRecords(t *testing.T) {
	h := newHarness(t, nil)
	h.mustAppend(plain(3), 0, false)
	h.mustAppend(idem(4, 0, 0, 3), 3, false)
	for _, c := range []struct {
		offset, want int64
	}{
		{2, 2},
		{1, 2},  // below the log start: no change
		{-1, 6}, // HW
	} {
		got, err := h.p.DeleteRecords(c.offset)
		if err != nil || got != c.want {
			t.Fatalf("DeleteRecords(%d) = %d, %v; want %d", c.offset, got, err, c.want)
		}
		if _, err := h.p.Read(c.want-1, 1<<20, ReadUncommitted, true, -1); !errors.Is(err, segment.ErrOffsetOutOfRange) {
			t.Fatalf("read below log start %d: %v", c.want, err)
		}
	}
	if _, err := h.p.DeleteRecords(7); !errors.Is(err, segment.ErrOffsetOutOfRange) {
		t.Fatalf("DeleteRecords above HW: %v", err)
	}
	// Producer 4's batches are all below the log start: it is forgotten.
	h.mustAppend(idem(4, 0, 4711, 1), 6, false)
	h.restart(true)
	if got := h.p.Log().LogStartOffset(); got != 6 {
		t.Fatalf("log start %d after a restart, want 6", got)
	}
}

func TestDeleteRecordsBoundedByHW(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.p.BecomeLeader(Leadership{Epoch: 6, Replicas: []ids.NodeID{1, 2}, ISR: []ids.NodeID{1, 2}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	h.mustAppendAcks(plain(4), 1)
	if _, err := h.p.DeleteRecords(4); !errors.Is(err, segment.ErrOffsetOutOfRange) {
		t.Fatalf("DeleteRecords to LEO above HW: %v", err)
	}
	if got, err := h.p.DeleteRecords(-1); err != nil || got != 0 {
		t.Fatalf("DeleteRecords(-1) = %d, %v; want HW 0", got, err)
	}
	if err := h.p.BecomeFollower(2, 7, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := h.p.DeleteRecords(0); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("DeleteRecords on a follower: %v", err)
	}
}

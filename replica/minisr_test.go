package replica

import (
	"errors"
	"testing"
	"time"

	"github.com/riffle/riffle/internal/ids"

	"github.com/riffle/riffle/segment"
)

func TestSetMinInsyncReplicas(t *testing.T) {
	// Two replicas, the follower out of the ISR: with min.insync.replicas 2
	// the ISR of one is below min(2, replication factor 2).
	h := newHarness(t, func(_ *segment.Config, o *Options) { o.MinInsyncReplicas = 2 })
	if err := h.p.BecomeLeader(Leadership{Epoch: 6, Replicas: []ids.NodeID{1, 2}, ISR: []ids.NodeID{1}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.p.AppendAsLeader(plain(1), -1, -1); !errors.Is(err, ErrNotEnoughReplicas) {
		t.Fatalf("acks=all with min.insync.replicas 2 on one replica: %v", err)
	}
	if _, err := h.p.AppendAsLeader(plain(1), 1, -1); err != nil {
		t.Fatal(err)
	}
	if hw := h.p.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d advanced below min.insync.replicas", hw)
	}
	if err := h.p.SetMinInsyncReplicas(0); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("SetMinInsyncReplicas(0) = %v", err)
	}
	woken := make(chan struct{}, 1)
	defer h.p.Watch(woken)()
	if err := h.p.SetMinInsyncReplicas(1); err != nil {
		t.Fatal(err)
	}
	if hw := h.p.HighWatermark(); hw != 1 {
		t.Fatalf("HW %d after lowering min.insync.replicas, want 1", hw)
	}
	select {
	case <-woken:
	default:
		t.Fatal("watchers not woken when HW advanced")
	}
	if _, err := h.p.AppendAsLeader(plain(1), -1, -1); err != nil {
		t.Fatalf("acks=all after lowering: %v", err)
	}
}

// With one replica, min.insync.replicas 2 refuses acks=all produces but
// does not hold HW back: the HW rule takes min(min.insync.replicas,
// replication factor) (KAFKA-15583).
func TestMinInsyncReplicasAboveReplicationFactor(t *testing.T) {
	h := newHarness(t, func(_ *segment.Config, o *Options) { o.MinInsyncReplicas = 2 })
	if _, err := h.p.AppendAsLeader(plain(1), -1, -1); !errors.Is(err, ErrNotEnoughReplicas) {
		t.Fatalf("acks=all with min.insync.replicas 2 on one replica: %v", err)
	}
	h.mustAppendAcks(plain(2), 1)
	if hw := h.p.HighWatermark(); hw != 2 {
		t.Fatalf("HW %d, want 2", hw)
	}
}

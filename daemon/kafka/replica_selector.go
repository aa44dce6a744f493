package kafka

// KIP-392: consumers fetch from the closest replica. With
// [replication] replica_selector = "rack-aware", a leader answers a
// consumer's Fetch (v11+, which carries the client's rack) with a preferred
// read replica and no records when the selector picks another replica, and
// a follower serves such fetches up to its own HW. A consumer that gets
// OFFSET_OUT_OF_RANGE from a follower goes back to the leader.

import (
	"fmt"

	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
)

// Replica selectors (replication.replica_selector).
const (
	SelectorLeader    = ""           // consumers always read from the leader
	SelectorRackAware = "rack-aware" // Kafka's RackAwareReplicaSelector
)

// ValidateReplicaSelector checks a replica_selector value.
func ValidateReplicaSelector(s string) error {
	if s != SelectorLeader && s != SelectorRackAware {
		return fmt.Errorf("unknown replica selector %q: want %q (always the leader) or %q", s, SelectorLeader, SelectorRackAware)
	}
	return nil
}

// preferredReadReplica is the replica the leader p sends a consumer in rack
// to, fetching at fetchOffset (Kafka's findPreferredReadReplica with the
// RackAwareReplicaSelector): -1, stay on the leader, when the client has no
// rack, the leader is in its rack or no candidate is; otherwise the most
// caught-up ISR follower in that rack holding fetchOffset: the greatest
// LEO, then the most recently caught up, then the greatest id. The leader
// does not learn a follower's log start, so one that no longer holds
// fetchOffset answers OFFSET_OUT_OF_RANGE and the consumer comes back.
func preferredReadReplica(im *quorum.Image, self int32, p *replica.Partition, rack string, fetchOffset int64) int32 {
	if rack == "" || !p.IsLeader() {
		return -1
	}
	if br, ok := im.Broker(self); ok && br.Rack == rack {
		return -1
	}
	best := replica.ReplicaView{ID: -1}
	for _, f := range p.ISRFollowers() {
		if br, ok := im.Broker(int32(f.ID)); !ok || br.Rack != rack || int64(f.LEO) < fetchOffset {
			continue
		}
		if best.ID < 0 || moreCaughtUp(f, best) {
			best = f
		}
	}
	return int32(best.ID)
}

// moreCaughtUp orders candidates as Kafka's ReplicaView.comparator does.
func moreCaughtUp(a, b replica.ReplicaView) bool {
	switch {
	case a.LEO != b.LEO:
		return a.LEO > b.LEO
	case !a.LastCaughtUp.Equal(b.LastCaughtUp):
		return a.LastCaughtUp.After(b.LastCaughtUp)
	}
	return a.ID > b.ID
}

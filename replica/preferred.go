package replica

import (
	"time"

	"github.com/riffle/riffle/internal/ids"
)

// ReplicaView is what the leader knows of an ISR follower, for choosing a
// consumer's preferred read replica (KIP-392, Kafka's
// ReplicaManager.findPreferredReadReplica).
type ReplicaView struct {
	ID           ids.NodeID
	LEO          ids.Offset // as of its last fetch; -1: unknown
	LastCaughtUp time.Time  // zero: never
}

// ISRFollowers lists the followers in the committed ISR with what their
// fetches told the leader; nil on a follower. Read-only.
func (p *Partition) ISRFollowers() []ReplicaView {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.m.leader {
		return nil
	}
	var out []ReplicaView
	for _, id := range p.m.isr {
		if st := p.m.followers[id]; st != nil && id != p.m.self {
			out = append(out, ReplicaView{ID: id, LEO: st.leo, LastCaughtUp: st.lastCaughtUp})
		}
	}
	return out
}

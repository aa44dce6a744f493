package replica

// CONTRACT (lead, session 2026-12-02): the replication API the replica
// manager (daemon/replicas) and the Kafka layer (daemon/kafka) call. The
// bodies are placeholders until the replica helper lands them; signatures
// change only by agreement.

import (
	"context"
	"time"

	"github.com/riffle/riffle/internal/ids"
)

// Leadership is what the metadata image says of a partition this broker
// leads.
type Leadership struct {
	Epoch          ids.Epoch
	PartitionEpoch int32
	Replicas       []ids.NodeID
	ISR            []ids.NodeID // committed ISR
}

// ISRMember is a proposed ISR member with the broker epoch it fetched with
// (-1: unknown; the controller accepts it).
type ISRMember struct {
	ID          ids.NodeID
	BrokerEpoch int64
}

// ISRProposal is an AlterPartition the leader wants sent (KIP-497): one in
// flight per partition; the committed result comes back through UpdateISR
// (from the image), a refusal through ISRRejected.
type ISRProposal struct {
	Topic          string
	Partition      int32
	LeaderEpoch    ids.Epoch
	PartitionEpoch int32
	ISR            []ISRMember
}

// FollowerFetch is one partition of a follower's Fetch.
type FollowerFetch struct {
	Replica            ids.NodeID
	BrokerEpoch        int64     // -1 when the fetch does not carry it (Fetch < v15)
	CurrentLeaderEpoch ids.Epoch // NoEpoch: unchecked
	FetchOffset        ids.Offset
	LastFetchedEpoch   ids.Epoch // NoEpoch: no divergence check (Fetch < v12)
	MaxBytes           int32
	MinOneBatch        bool
}

// EpochEnd is a leader epoch and the offset it ends at: a DivergingEpoch
// in a Fetch response, an OffsetForLeaderEpoch answer.
type EpochEnd struct {
	Epoch     ids.Epoch
	EndOffset ids.Offset
}

// FollowerRead is the leader's answer to a FollowerFetch: records up to LEO
// with HW and log start sampled before the read, or Diverging (no records)
// when the follower's log diverges from the leader's at FetchOffset.
type FollowerRead struct {
	ReadResult
	Diverging *EpochEnd
}

// BecomeLeader makes this replica the leader at l.Epoch (KIP-279: the epoch
// starts at LEO before any append). Followers in l.ISR count as caught up
// now, others not; their LEOs are unknown until they fetch.
func (p *Partition) BecomeLeader(l Leadership, now time.Time) error { panic("replica: unimplemented") }

// BecomeFollower makes this replica follow leader (NoNode: leaderless) at
// epoch. acks=all produces waiting on it end with ErrNotLeader.
func (p *Partition) BecomeFollower(leader ids.NodeID, epoch ids.Epoch, partitionEpoch int32) error {
	panic("replica: unimplemented")
}

// UpdateISR adopts a committed ISR from the image at the same leader epoch
// (ignored when partitionEpoch is not newer).
func (p *Partition) UpdateISR(isr []ids.NodeID, partitionEpoch int32, now time.Time) {
	panic("replica: unimplemented")
}

// ISRRejected ends the pending proposal the controller refused
// (INELIGIBLE_REPLICA and the like): the committed ISR stands.
func (p *Partition) ISRRejected(prop ISRProposal) { panic("replica: unimplemented") }

// Tick proposes removing ISR followers that have not caught up within
// replica.lag.time.max.ms.
func (p *Partition) Tick(now time.Time) { panic("replica: unimplemented") }

// ReadForFollower serves a follower's fetch on the leader: epoch check,
// divergence check (KIP-320), records up to LEO; it records the follower's
// LEO (FetchOffset) unless diverging, which may advance HW or propose an
// ISR expansion.
func (p *Partition) ReadForFollower(f FollowerFetch, now time.Time) (FollowerRead, error) {
	panic("replica: unimplemented")
}

// WatchEnd is Watch for LEO moves (follower long polls).
func (p *Partition) WatchEnd(ch chan<- struct{}) (cancel func()) { panic("replica: unimplemented") }

// WaitReplicated waits, for an acks=all produce, until HW >= required: nil;
// ErrNotEnoughReplicasAfterAppend when the ISR is below min.insync.replicas
// at that moment; ErrNotLeader when leadership is lost; ctx's error (the
// request timeout) otherwise.
func (p *Partition) WaitReplicated(ctx context.Context, required ids.Offset) error {
	panic("replica: unimplemented")
}

// AppendAsFollower appends batches as the leader sent them (offsets and
// epochs assigned; each batch's CRC checked; the first must start at LEO)
// and records their producer state.
func (p *Partition) AppendAsFollower(records []byte) error { panic("replica: unimplemented") }

// FetchPosition is what a follower's next fetch sends: its LEO, the epoch
// of its last batch, its log start.
func (p *Partition) FetchPosition() (fetchOffset ids.Offset, lastFetchedEpoch ids.Epoch, logStart ids.Offset) {
	panic("replica: unimplemented")
}

// UpdateFollowerHW sets a follower's HW to min(leader HW, LEO).
func (p *Partition) UpdateFollowerHW(leaderHW ids.Offset) { panic("replica: unimplemented") }

// TruncateOnDivergence truncates a follower after a DivergingEpoch answer,
// by Kafka's rule (cluster-notes §1, AFT.getOffsetTruncationState), and
// rebuilds the producer state.
func (p *Partition) TruncateOnDivergence(d EpochEnd) error { panic("replica: unimplemented") }

// RestartAt empties a follower whose LEO is below the leader's log start
// and restarts its log at offset.
func (p *Partition) RestartAt(offset ids.Offset) error { panic("replica: unimplemented") }

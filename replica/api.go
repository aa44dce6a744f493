package replica

// CONTRACT SKELETON (written by the lead so other packages compile). The
// replica implementer replaces the bodies, may split files and add, but keeps
// these exported names and signatures.

import (
	"errors"
	"log/slog"
	"time"

	"github.com/riffle/riffle/segment"
)

// Errors the Kafka layer maps to error codes.
var (
	ErrOutOfOrderSequence   = errors.New("out of order sequence number") // OUT_OF_ORDER_SEQUENCE_NUMBER
	ErrInvalidProducerEpoch = errors.New("invalid producer epoch")       // INVALID_PRODUCER_EPOCH (stale epoch)
	ErrNotLeader            = errors.New("not leader for partition")     // NOT_LEADER_OR_FOLLOWER
	ErrFencedLeaderEpoch    = errors.New("fenced leader epoch")          // FENCED_LEADER_EPOCH
	ErrUnknownLeaderEpoch   = errors.New("unknown leader epoch")         // UNKNOWN_LEADER_EPOCH
	ErrNotEnoughReplicas    = errors.New("not enough in-sync replicas")  // NOT_ENOUGH_REPLICAS
	ErrClosed               = errors.New("partition closed")
)

// Options configure a partition replica.
type Options struct {
	Topic       string
	Partition   int32
	NodeID      int32
	LeaderEpoch int32            // epoch this node leads in (single node: from metadata)
	Now         func() time.Time // time.Now when nil
	Logger      *slog.Logger
}

// Partition is one partition's replication state on this broker: leader
// epoch, ISR, HW, LEO, idempotent-producer state. Safe for concurrent use.
type Partition struct{}

// Open wraps an open log: loads the newest producer-state snapshot and replays
// the log after it, and records the leader epoch start at LEO.
func Open(log *segment.Log, opts Options) (*Partition, error) { panic("unimplemented") }

// AppendResult is what a produce gets back.
type AppendResult struct {
	segment.AppendResult
	LogStartOffset int64
	Duplicate      bool // an idempotent retry: offsets are the original batch's
}

// AppendAsLeader validates the producer id/epoch/sequence of an already
// validated batch (segment.ValidateBatch) and appends it. For acks=-1 it
// returns once HW covers the batch (immediately with a one-replica ISR).
func (p *Partition) AppendAsLeader(batch []byte, acks int16, currentLeaderEpoch int32) (AppendResult, error) {
	panic("unimplemented")
}

// Isolation selects the fetch upper bound.
type Isolation int8

const (
	ReadUncommitted Isolation = 0 // up to HW
	ReadCommitted   Isolation = 1 // up to LSO (== HW without transactions)
	ReadReplica     Isolation = 2 // up to LEO (followers)
)

// ReadResult is one partition's fetch answer.
type ReadResult struct {
	Region         segment.Region // Release it once sent
	HighWatermark  int64
	LastStable     int64
	LogStartOffset int64
}

// Read returns records from offset up to the isolation bound.
func (p *Partition) Read(offset int64, maxBytes int32, iso Isolation, minOneBatch bool, currentLeaderEpoch int32) (ReadResult, error) {
	panic("unimplemented")
}

// Watch registers ch to receive a non-blocking send whenever the readable end
// (HW) moves; cancel unregisters.
func (p *Partition) Watch(ch chan<- struct{}) (cancel func()) { panic("unimplemented") }

func (p *Partition) Log() *segment.Log       { panic("unimplemented") }
func (p *Partition) HighWatermark() int64    { panic("unimplemented") }
func (p *Partition) LastStableOffset() int64 { panic("unimplemented") }
func (p *Partition) LeaderEpoch() int32      { panic("unimplemented") }

// SnapshotProducers writes a producer-state snapshot at LEO.
func (p *Partition) SnapshotProducers() error { panic("unimplemented") }

// Close snapshots producer state; the log is closed by its owner.
func (p *Partition) Close() error { panic("unimplemented") }

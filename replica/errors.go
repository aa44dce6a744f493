package replica

import "errors"

// Errors the Kafka layer maps to error codes. Errors from segment (such as
// segment.ErrOffsetOutOfRange) are passed through wrapped.
var (
	ErrOutOfOrderSequence           = errors.New("out of order sequence number")                           // OUT_OF_ORDER_SEQUENCE_NUMBER
	ErrInvalidProducerEpoch         = errors.New("invalid producer epoch")                                 // INVALID_PRODUCER_EPOCH (stale epoch)
	ErrNotLeader                    = errors.New("not leader for partition")                               // NOT_LEADER_OR_FOLLOWER
	ErrFencedLeaderEpoch            = errors.New("fenced leader epoch")                                    // FENCED_LEADER_EPOCH
	ErrUnknownLeaderEpoch           = errors.New("unknown leader epoch")                                   // UNKNOWN_LEADER_EPOCH
	ErrNotEnoughReplicas            = errors.New("not enough in-sync replicas")                            // NOT_ENOUGH_REPLICAS
	ErrNotEnoughReplicasAfterAppend = errors.New("appended, but the ISR shrank below min.insync.replicas") // NOT_ENOUGH_REPLICAS_AFTER_APPEND
	ErrCoordinatorFenced            = errors.New("transaction coordinator fenced")                         // TRANSACTION_COORDINATOR_FENCED
	ErrInvalidOptions               = errors.New("invalid replica options")
	ErrClosed                       = errors.New("partition closed")
)

// ErrNotFollower refuses a follower-only call (a replicated append, a
// truncation) on the leader: a fetch answer that arrived after this replica
// became leader.
var ErrNotFollower = errors.New("not a follower for partition") // NOT_LEADER_OR_FOLLOWER

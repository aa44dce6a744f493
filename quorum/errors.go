package quorum

import "errors"

// Sentinel errors; they are wrapped with context, test them with errors.Is.
// The comments name the Kafka error code each maps to. The broker
// lifecycle, elections and AlterPartition wrap kerr's errors instead
// (kerr.StaleBrokerEpoch, ...), which the Kafka layer answers as they are.
var (
	ErrTopicExists              = errors.New("topic already exists")       // TOPIC_ALREADY_EXISTS
	ErrUnknownTopic             = errors.New("unknown topic")              // UNKNOWN_TOPIC_OR_PARTITION
	ErrInvalidTopic             = errors.New("invalid topic name")         // INVALID_TOPIC_EXCEPTION
	ErrInvalidPartitions        = errors.New("invalid partition count")    // INVALID_PARTITIONS
	ErrInvalidReplicationFactor = errors.New("invalid replication factor") // INVALID_REPLICATION_FACTOR
	ErrInvalidConfig            = errors.New("invalid config")             // INVALID_CONFIG
	ErrUnknownConfig            = errors.New("unknown config")             // INVALID_CONFIG too
	// ErrPolicyViolation: the change is valid but would pass a limit of
	// the cluster (topics, partitions per broker).
	ErrPolicyViolation = errors.New("policy violation") // POLICY_VIOLATION

	// ErrCorruptMetadata: the metadata log holds a record this version
	// cannot decode or apply. Open fails with it; nothing is repaired.
	ErrCorruptMetadata = errors.New("corrupt metadata log")
	// ErrNotController: this node is not the active controller (the raft
	// leader), or stopped being it before the change committed; the change
	// did not happen and the caller may retry. NOT_CONTROLLER.
	ErrNotController = errors.New("not the active controller")
	// ErrClosed: the controller was closed.
	ErrClosed = errors.New("controller closed")
)

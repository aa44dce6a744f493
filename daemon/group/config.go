package group

// Config holds the coordinator's limits and timeouts. The comments name
// Kafka's broker configs with the same meaning.
type Config struct {
	SessionTimeoutMsMin     int32 // group.min.session.timeout.ms
	SessionTimeoutMsMax     int32 // group.max.session.timeout.ms
	InitialRebalanceDelayMs int32 // group.initial.rebalance.delay.ms
	GroupSizeMax            int   // group.max.size
	OffsetMetadataBytesMax  int   // offset.metadata.max.bytes
	OffsetsRetentionMs      int64 // offsets.retention.minutes, in ms
	OffsetsRetentionCheckMs int64 // offsets.retention.check.interval.ms
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SessionTimeoutMsMin:     6000,
		SessionTimeoutMsMax:     1800000,
		InitialRebalanceDelayMs: 3000,
		GroupSizeMax:            1<<31 - 1,
		OffsetMetadataBytesMax:  4096,
		OffsetsRetentionMs:      7 * 24 * 3600 * 1000,
		OffsetsRetentionCheckMs: 600000,
	}
}

// newMemberJoinTimeoutMs bounds how long a new member's first JoinGroup may
// wait in a rebalance: it has no member id to heartbeat with, and a client
// that gave up and retried would otherwise leave defunct members behind.
// Kafka uses the same 5 minutes.
const newMemberJoinTimeoutMs = 5 * 60 * 1000

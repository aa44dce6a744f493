package daemon

import (
	"log/slog"

	"github.com/riffle/riffle/daemon/group"
	"github.com/riffle/riffle/quorum"
)

// GroupsConfig is the [groups] section: the consumer-group coordinator and
// __consumer_offsets.
type GroupsConfig struct {
	OffsetsTopicPartitions          int32 `toml:"offsets_topic_partitions" min:"1" max:"1000"`
	OffsetsTopicReplicationFactor   int16 `toml:"offsets_topic_replication_factor" min:"1" max:"32767"`
	SessionTimeoutMsMin             int32 `toml:"session_timeout_ms_min" min:"1" max:"2147483647"`
	SessionTimeoutMsMax             int32 `toml:"session_timeout_ms_max" min:"1" max:"2147483647"`
	InitialRebalanceDelayMs         int32 `toml:"initial_rebalance_delay_ms" min:"0" max:"2147483647"`
	GroupSizeMax                    int   `toml:"group_size_max" min:"1" max:"2147483647"`
	OffsetMetadataBytesMax          int   `toml:"offset_metadata_bytes_max" min:"0" max:"1048576"`
	OffsetsRetentionMs              int64 `toml:"offsets_retention_ms" min:"60000" max:"9223372036854775807"`
	OffsetsRetentionCheckIntervalMs int64 `toml:"offsets_retention_check_interval_ms" min:"1000" max:"86400000"`
}

// groupOptions is what the group coordinator needs of the configuration.
func groupOptions(cfg Config, ctrl quorum.Metadata, parts group.Partitions, log *slog.Logger) group.Options {
	g := cfg.Groups
	return group.Options{
		NodeID: cfg.Broker.NodeID,
		Config: group.Config{
			SessionTimeoutMsMin:     g.SessionTimeoutMsMin,
			SessionTimeoutMsMax:     g.SessionTimeoutMsMax,
			InitialRebalanceDelayMs: g.InitialRebalanceDelayMs,
			GroupSizeMax:            g.GroupSizeMax,
			OffsetMetadataBytesMax:  g.OffsetMetadataBytesMax,
			OffsetsRetentionMs:      g.OffsetsRetentionMs,
			OffsetsRetentionCheckMs: g.OffsetsRetentionCheckIntervalMs,
		},
		TopicPartitions:        g.OffsetsTopicPartitions,
		TopicReplicationFactor: offsetsReplicationFactor(cfg),
		Controller:             ctrl,
		Partitions:             parts,
		Logger:                 log,
	}
}

// offsetsReplicationFactor is offsets_topic_replication_factor capped at
// the quorum's voters (every voter is a broker): a single node keeps its
// offsets on its one replica, a three-voter cluster waits for three live
// brokers before creating __consumer_offsets.
func offsetsReplicationFactor(cfg Config) int16 {
	return int16(min(int(cfg.Groups.OffsetsTopicReplicationFactor), max(len(cfg.Voters()), 1)))
}

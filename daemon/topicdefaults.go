package daemon

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/riffle/riffle/daemon/replicas"
	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/segment"
)

// TopicDefaults is the [log] section and replication.replica_lag_time_max_ms
// as the broker's static topic config defaults, by Kafka's topic config
// names: what DescribeConfigs reports as STATIC_BROKER_CONFIG and what a
// topic without overrides gets.
func (c *Config) TopicDefaults() quorum.TopicDefaults {
	l := c.Log
	long := func(v int64) string { return strconv.FormatInt(v, 10) }
	return quorum.TopicDefaults{
		"segment.bytes":          long(l.SegmentBytes),
		"segment.ms":             long(l.SegmentMs),
		"retention.ms":           long(l.RetentionMs),
		"retention.bytes":        long(l.RetentionBytes),
		"index.interval.bytes":   long(int64(l.IndexIntervalBytes)),
		"segment.index.bytes":    long(int64(l.SegmentIndexBytes)),
		"max.message.bytes":      long(int64(l.MaxMessageBytes)),
		"flush.messages":         long(l.FlushMessages),
		"flush.ms":               long(l.FlushMs),
		"file.delete.delay.ms":   long(l.FileDeleteDelayMs),
		"message.timestamp.type": l.MessageTimestampType,
		"cleanup.policy":         l.CleanupPolicy,
		"min.insync.replicas":    long(int64(l.MinInsyncReplicas)),
		// A Riffle topic config: Kafka's is the broker's only.
		"replica.lag.time.max.ms": long(c.Replication.ReplicaLagTimeMaxMs),
	}
}

// topicSegmentConfig is a topic's segment config: its effective topic
// configs plus the broker-wide durability mode, which is not a topic config.
func (c *Config) topicSegmentConfig(overrides map[string]string) (segment.Config, error) {
	sc, err := c.TopicDefaults().SegmentConfig(overrides)
	sc.SyncEveryAppend = c.Log.SyncEveryAppend
	return sc, err
}

// partitionConfig is what a topic's effective configs set on its replicas.
func (c *Config) partitionConfig(overrides map[string]string) (replicas.TopicConfig, error) {
	sc, err := c.topicSegmentConfig(overrides)
	if err != nil {
		return replicas.TopicConfig{}, err
	}
	minISR, err := c.topicInt(overrides, "min.insync.replicas")
	if err != nil {
		return replicas.TopicConfig{}, err
	}
	lagMs, err := c.topicInt(overrides, "replica.lag.time.max.ms")
	if err != nil {
		return replicas.TopicConfig{}, err
	}
	return replicas.TopicConfig{Log: sc, MinISR: int(minISR), LagTimeMax: time.Duration(lagMs) * time.Millisecond}, nil
}

// topicInt is an integer topic config's effective value.
func (c *Config) topicInt(overrides map[string]string, name string) (int64, error) {
	v, err := c.TopicDefaults().Effective(overrides, name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v.Value), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %w", name, v.Value, err)
	}
	return n, nil
}

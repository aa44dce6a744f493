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

// topicDefaults are a topic's defaults: the cluster-wide dynamic ones
// (quorum.Image.ClusterConfigs), then this broker's.
func (c *Config) topicDefaults(cluster map[string]string) quorum.Defaults {
	return quorum.Defaults{Cluster: cluster, Static: c.TopicDefaults()}
}

// topicSegmentConfig is a topic's segment config: its effective topic
// configs plus the broker-wide durability mode, which is not a topic config.
func (c *Config) topicSegmentConfig(cluster, overrides map[string]string) (segment.Config, error) {
	sc, err := c.topicDefaults(cluster).SegmentConfig(overrides)
	sc.SyncEveryAppend = c.Log.SyncEveryAppend
	return sc, err
}

// partitionConfig is what a topic's effective configs set on its replicas.
func (c *Config) partitionConfig(cluster, overrides map[string]string) (replicas.TopicConfig, error) {
	sc, err := c.topicSegmentConfig(cluster, overrides)
	if err != nil {
		return replicas.TopicConfig{}, err
	}
	defaults := c.topicDefaults(cluster)
	minISR, err := topicInt(defaults, overrides, "min.insync.replicas")
	if err != nil {
		return replicas.TopicConfig{}, err
	}
	lagMs, err := topicInt(defaults, overrides, "replica.lag.time.max.ms")
	if err != nil {
		return replicas.TopicConfig{}, err
	}
	return replicas.TopicConfig{Log: sc, MinISR: int(minISR), LagTimeMax: time.Duration(lagMs) * time.Millisecond}, nil
}

// topicInt is an integer topic config's effective value.
func topicInt(defaults quorum.Defaults, overrides map[string]string, name string) (int64, error) {
	v, err := defaults.Effective(overrides, name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v.Value), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %w", name, v.Value, err)
	}
	return n, nil
}

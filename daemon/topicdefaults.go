package daemon

import (
	"fmt"
	"strconv"

	"github.com/riffle/riffle/segment"
)

// topicSegmentConfig is a topic's segment config: its effective topic
// configs plus the broker-wide durability mode, which is not a topic config.
func (c *Config) topicSegmentConfig(overrides map[string]string) (segment.Config, error) {
	sc, err := c.TopicDefaults().SegmentConfig(overrides)
	sc.SyncEveryAppend = c.Log.SyncEveryAppend
	return sc, err
}

// partitionConfig is what a topic's effective configs set on its replicas.
func (c *Config) partitionConfig(overrides map[string]string) (partitionConfig, error) {
	sc, err := c.topicSegmentConfig(overrides)
	if err != nil {
		return partitionConfig{}, err
	}
	v, err := c.TopicDefaults().Effective(overrides, "min.insync.replicas")
	if err != nil {
		return partitionConfig{}, err
	}
	minISR, err := strconv.Atoi(v.Value)
	if err != nil {
		return partitionConfig{}, fmt.Errorf("min.insync.replicas %q: %w", v.Value, err)
	}
	return partitionConfig{log: sc, minISR: minISR}, nil
}

package quorum

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/riffle/riffle/segment"
)

// The topic config registry: every topic config Riffle accepts, its type,
// valid values and built-in default (Kafka's), and how the effective value
// of a topic's config is found: the topic's override, else the cluster-wide
// dynamic default (Image.ClusterConfigs, under the broker config's name),
// else the broker's static default (TopicDefaults, from config.toml), else
// the built-in one.
//
// Values are stored as sent; validation parses them with surrounding space
// trimmed and booleans in any case, as Kafka does. compression.type accepts
// "producer" (keep the producer's codec) and the codec names; the broker
// stores the value but does not recompress yet. Configs marked "stored"
// below are accepted so that tools creating topics with them work, but have
// no effect yet (no preallocation, no recompression).

// ConfigType is a config's type, numbered as DescribeConfigs' configType.
type ConfigType int8

const (
	ConfigBoolean ConfigType = 1
	ConfigString  ConfigType = 2
	ConfigInt     ConfigType = 3
	ConfigLong    ConfigType = 5
	ConfigDouble  ConfigType = 6
	ConfigList    ConfigType = 7
)

// ConfigSource is where an effective value comes from, numbered as
// DescribeConfigs' configSource.
type ConfigSource int8

const (
	SourceTopic          ConfigSource = 1 // the topic's override (DYNAMIC_TOPIC_CONFIG)
	SourceClusterDynamic ConfigSource = 3 // Image.ClusterConfigs (DYNAMIC_DEFAULT_BROKER_CONFIG)
	SourceBrokerStatic   ConfigSource = 4 // TopicDefaults (STATIC_BROKER_CONFIG)
	SourceDefault        ConfigSource = 5 // the built-in default (DEFAULT_CONFIG)
)

// TopicConfigDef describes one supported topic config.
type TopicConfigDef struct {
	Name    string
	Broker  string // Kafka's broker config that holds its default ("log.retention.ms")
	Type    ConfigType
	Default string // built-in default
	Doc     string
	check   func(v string) error
}

// ConfigValue is a topic config's effective value and its source.
type ConfigValue struct {
	Name   string
	Value  string
	Source ConfigSource
	Type   ConfigType
	Doc    string
}

// TopicDefaults are the broker's static topic config defaults by topic
// config name ("retention.ms"), from config.toml. Check with Validate.
type TopicDefaults map[string]string

const (
	maxLong = "9223372036854775807"
	week    = "604800000"
)

// topicConfigs is the registry, sorted by name.
var topicConfigs = sortedDefs([]TopicConfigDef{
	{"cleanup.policy", "log.cleanup.policy", ConfigList, "delete", "delete: drop old segments by retention; compact: keep the latest record of each key (the log cleaner); compact,delete: both", listOf("compact", "delete")},
	{"compression.type", "compression.type", ConfigString, "producer", "codec for stored batches; producer keeps the producer's (stored: no recompression yet)", oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")},
	{"delete.retention.ms", "log.cleaner.delete.retention.ms", ConfigLong, "86400000", "how long delete markers (null values) stay in a compacted topic once their segment is this old", longIn(0, math.MaxInt64)},
	{"file.delete.delay.ms", "log.segment.delete.delay.ms", ConfigLong, "60000", "delay before a deleted segment's files are unlinked", longIn(0, math.MaxInt64)},
	{"flush.messages", "log.flush.interval.messages", ConfigLong, maxLong, "fdatasync after this many records", longIn(1, math.MaxInt64)},
	{"flush.ms", "log.flush.interval.ms", ConfigLong, "1000", "fdatasync when unflushed data is older than this (Kafka's default: never; Riffle's: a second, which keeps each disk flush small)", longIn(0, math.MaxInt64)},
	{"index.interval.bytes", "log.index.interval.bytes", ConfigInt, "4096", "bytes of log between offset index entries", longIn(0, math.MaxInt32)},
	{"max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", ConfigLong, maxLong, "longest a record stays uncompacted: a log with dirty records this old is cleaned whatever its dirty ratio", longIn(1, math.MaxInt64)},
	{"max.message.bytes", "message.max.bytes", ConfigInt, "1048588", "largest record batch accepted", longIn(segment.BatchHeaderSize, 1<<30)},
	{"message.timestamp.after.max.ms", "log.message.timestamp.after.max.ms", ConfigLong, maxLong, "how far a record timestamp may be ahead of the broker's clock", longIn(0, math.MaxInt64)},
	{"message.timestamp.before.max.ms", "log.message.timestamp.before.max.ms", ConfigLong, maxLong, "how far a record timestamp may be behind the broker's clock", longIn(0, math.MaxInt64)},
	{"message.timestamp.type", "log.message.timestamp.type", ConfigString, "CreateTime", "CreateTime keeps the producer's timestamps; LogAppendTime stamps the broker's", oneOf("CreateTime", "LogAppendTime")},
	{"min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio", ConfigDouble, "0.5", "dirty share of a compacted log that triggers a clean", doubleIn(0, 1)},
	{"min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms", ConfigLong, "0", "shortest a record stays uncompacted: segments with newer records are not cleaned", longIn(0, math.MaxInt64)},
	{"min.insync.replicas", "min.insync.replicas", ConfigInt, "1", "fewest in-sync replicas for an acks=all produce", longIn(1, math.MaxInt32)},
	{"preallocate", "log.preallocate", ConfigBoolean, "false", "preallocate segment files (stored)", isBool},
	{"replica.lag.time.max.ms", "replica.lag.time.max.ms", ConfigLong, "30000", "how long a follower may stay behind the leader's log end before it leaves the ISR (Riffle: per topic; Kafka sets it per broker)", longIn(1, math.MaxInt64)},
	{"retention.bytes", "log.retention.bytes", ConfigLong, "-1", "largest log size before old segments are dropped; -1 unlimited", longIn(-1, math.MaxInt64)},
	{"retention.ms", "log.retention.ms", ConfigLong, week, "oldest data kept; -1 unlimited", longIn(-1, math.MaxInt64)},
	{"segment.bytes", "log.segment.bytes", ConfigInt, "1073741824", "segment size that triggers a roll", longIn(segment.BatchHeaderSize, math.MaxInt32)},
	{"segment.index.bytes", "log.index.size.max.bytes", ConfigInt, "10485760", "preallocated size of each segment index", longIn(12, 1<<30)},
	{"segment.ms", "log.roll.ms", ConfigLong, week, "segment age that triggers a roll", longIn(1, math.MaxInt64)},
	{"unclean.leader.election.enable", "unclean.leader.election.enable", ConfigBoolean, "false", "let an out-of-sync replica become leader, losing records", isBool},
})

func sortedDefs(defs []TopicConfigDef) []TopicConfigDef {
	slices.SortFunc(defs, func(a, b TopicConfigDef) int { return cmp.Compare(a.Name, b.Name) })
	return defs
}

// TopicConfigs returns every supported topic config, sorted by name.
func TopicConfigs() []TopicConfigDef { return slices.Clone(topicConfigs) }

// LookupTopicConfig returns the supported config called name.
func LookupTopicConfig(name string) (TopicConfigDef, bool) {
	i, ok := slices.BinarySearchFunc(topicConfigs, name, func(d TopicConfigDef, n string) int { return cmp.Compare(d.Name, n) })
	if !ok {
		return TopicConfigDef{}, false
	}
	return topicConfigs[i], true
}

// ValidateTopicConfig checks one topic config override: ErrUnknownConfig for
// a name the registry lacks, ErrInvalidConfig for a bad value. It suits
// Options.ValidateTopicConfig.
func ValidateTopicConfig(name, value string) error {
	d, ok := LookupTopicConfig(name)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownConfig, name)
	}
	return d.validate(name, value)
}

// validate checks value for def, whose name is name (the topic's or the
// broker's).
func (def TopicConfigDef) validate(name, value string) error {
	if err := def.check(value); err != nil {
		return fmt.Errorf("%w: %s=%q: %v", ErrInvalidConfig, name, value, err)
	}
	return nil
}

// Validate checks every broker default like an override.
func (d TopicDefaults) Validate() error {
	for _, k := range slices.Sorted(maps.Keys(d)) {
		if err := ValidateTopicConfig(k, d[k]); err != nil {
			return fmt.Errorf("topic defaults: %w", err)
		}
	}
	return nil
}

// Defaults are what a topic's configs fall back to below its overrides:
// the cluster-wide dynamic defaults, then the broker's static ones.
type Defaults struct {
	Cluster map[string]string // Image.ClusterConfigs: by broker config name
	Static  TopicDefaults
}

// Effective returns config name's effective value for a topic with
// overrides (ErrUnknownConfig for an unsupported name).
func (d Defaults) Effective(overrides map[string]string, name string) (ConfigValue, error) {
	def, ok := LookupTopicConfig(name)
	if !ok {
		return ConfigValue{}, fmt.Errorf("%w: %s", ErrUnknownConfig, name)
	}
	return d.effective(def, overrides), nil
}

// Describe returns the effective value of every supported config, sorted by
// name: what DescribeConfigs reports for a topic.
func (d Defaults) Describe(overrides map[string]string) []ConfigValue {
	out := make([]ConfigValue, len(topicConfigs))
	for i, def := range topicConfigs {
		out[i] = d.effective(def, overrides)
	}
	return out
}

func (d Defaults) effective(def TopicConfigDef, overrides map[string]string) ConfigValue {
	v := ConfigValue{Name: def.Name, Value: def.Default, Source: SourceDefault, Type: def.Type, Doc: def.Doc}
	if s, ok := overrides[def.Name]; ok {
		v.Value, v.Source = s, SourceTopic
	} else if s, ok := d.Cluster[def.Broker]; ok {
		v.Value, v.Source = s, SourceClusterDynamic
	} else if s, ok := d.Static[def.Name]; ok {
		v.Value, v.Source = s, SourceBrokerStatic
	}
	return v
}

// LookupClusterConfig returns the topic config whose cluster-wide default
// the broker config called name sets: the broker configs that can change
// dynamically, cluster-wide.
func LookupClusterConfig(name string) (TopicConfigDef, bool) {
	for _, def := range topicConfigs {
		if def.Broker == name {
			return def, true
		}
	}
	return TopicConfigDef{}, false
}

// ValidateClusterConfig checks one cluster-wide dynamic broker config as
// ValidateTopicConfig checks a topic override.
func ValidateClusterConfig(name, value string) error {
	def, ok := LookupClusterConfig(name)
	if !ok {
		return fmt.Errorf("%w: %s cannot change dynamically (the cluster-wide ones are the defaults of topic configs: log.retention.ms, ...)", ErrUnknownConfig, name)
	}
	return def.validate(name, value)
}

// SegmentConfig returns the segment config of a topic with overrides.
// SyncEveryAppend is not a topic config and stays false: the daemon sets
// it. A topic whose cleanup.policy lacks "delete" gets no retention; one
// whose policy holds "compact" is cleaned, its segments rolled by
// max.compaction.lag.ms when that is below segment.ms.
func (d Defaults) SegmentConfig(overrides map[string]string) (segment.Config, error) {
	r := configReader{d: d, overrides: overrides}
	c := segment.Config{
		SegmentBytes:       r.long("segment.bytes"),
		SegmentMs:          r.long("segment.ms"),
		IndexIntervalBytes: int32(r.long("index.interval.bytes")),
		IndexBytesMax:      int32(r.long("segment.index.bytes")),
		BatchBytesMax:      int32(r.long("max.message.bytes")),
		RetentionBytes:     r.long("retention.bytes"),
		RetentionMs:        r.long("retention.ms"),
		FlushMessages:      r.long("flush.messages"),
		FlushMs:            r.long("flush.ms"),
		FileDeleteDelayMs:  r.long("file.delete.delay.ms"),
		LogAppendTime:      r.value("message.timestamp.type") == "LogAppendTime",
	}
	policy := splitList(r.value("cleanup.policy"))
	if !slices.Contains(policy, "delete") {
		c.RetentionBytes, c.RetentionMs = -1, -1
	}
	c.Compact = slices.Contains(policy, "compact")
	c.DeleteRetentionMs = r.long("delete.retention.ms")
	c.MinCompactionLagMs = r.long("min.compaction.lag.ms")
	c.MaxCompactionLagMs = r.long("max.compaction.lag.ms")
	c.MinCleanableDirtyRatio, _ = strconv.ParseFloat(r.value("min.cleanable.dirty.ratio"), 64) // value checked the syntax
	if c.Compact {
		// KIP-354: the active segment rolls by max.compaction.lag.ms too,
		// so that its records become cleanable in time.
		c.SegmentMs = min(c.SegmentMs, c.MaxCompactionLagMs)
	}
	if r.err != nil {
		return segment.Config{}, r.err
	}
	if err := c.Validate(); err != nil {
		return segment.Config{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return c, nil
}

// configReader reads effective values, keeping the first parse error.
type configReader struct {
	d         Defaults
	overrides map[string]string
	err       error
}

func (r *configReader) value(name string) string {
	def, ok := LookupTopicConfig(name)
	if !ok {
		panic("quorum: config " + name + " is not in the registry")
	}
	v := r.d.effective(def, r.overrides)
	if err := def.check(v.Value); err != nil && r.err == nil {
		r.err = fmt.Errorf("%w: %s=%q: %v", ErrInvalidConfig, name, v.Value, err)
	}
	return strings.TrimSpace(v.Value)
}

func (r *configReader) long(name string) int64 {
	n, _ := strconv.ParseInt(r.value(name), 10, 64) // value checked the syntax
	return n
}

func longIn(lo, hi int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer")
		}
		if n < lo || n > hi {
			return fmt.Errorf("must be %d to %d", lo, hi)
		}
		return nil
	}
}

func doubleIn(lo, hi float64) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) {
			return fmt.Errorf("not a number")
		}
		if f < lo || f > hi {
			return fmt.Errorf("must be %g to %g", lo, hi)
		}
		return nil
	}
}

func isBool(v string) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "false":
		return nil
	}
	return fmt.Errorf("must be true or false")
}

func oneOf(values ...string) func(string) error {
	return func(v string) error {
		if !slices.Contains(values, strings.TrimSpace(v)) {
			return fmt.Errorf("must be one of %s", strings.Join(values, ", "))
		}
		return nil
	}
}

// listOf accepts a non-empty comma-separated list of values.
func listOf(values ...string) func(string) error {
	one := oneOf(values...)
	return func(v string) error {
		items := splitList(v)
		if len(items) == 0 {
			return fmt.Errorf("must list some of %s", strings.Join(values, ", "))
		}
		for _, it := range items {
			if err := one(it); err != nil {
				return err
			}
		}
		return nil
	}
}

func splitList(v string) []string {
	var items []string
	for it := range strings.SplitSeq(v, ",") {
		if it = strings.TrimSpace(it); it != "" {
			items = append(items, it)
		}
	}
	return items
}

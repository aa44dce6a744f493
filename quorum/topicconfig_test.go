package quorum

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/riffle/riffle/segment"
)

func TestValidateTopicConfig(t *testing.T) {
	cases := []struct {
		name, value string
		want        error
	}{
		{"retention.ms", "-1", nil},
		{"retention.ms", " 1000 ", nil},
		{"retention.ms", "-2", ErrInvalidConfig},
		{"retention.ms", "1e3", ErrInvalidConfig},
		{"retention.ms", "9223372036854775808", ErrInvalidConfig},
		{"retention.bytes", "-1", nil},
		{"segment.bytes", "1048576", nil},
		{"segment.bytes", "2147483648", ErrInvalidConfig},
		{"segment.bytes", "60", ErrInvalidConfig},
		{"segment.ms", "0", ErrInvalidConfig},
		{"segment.index.bytes", "11", ErrInvalidConfig},
		{"index.interval.bytes", "0", nil},
		{"max.message.bytes", "1048588", nil},
		{"flush.messages", "1", nil},
		{"flush.messages", "0", ErrInvalidConfig},
		{"flush.ms", "0", nil},
		{"file.delete.delay.ms", "-1", ErrInvalidConfig},
		{"cleanup.policy", "compact,delete", nil},
		{"cleanup.policy", " delete ", nil},
		{"cleanup.policy", "compact, nonsense", ErrInvalidConfig},
		{"cleanup.policy", "", ErrInvalidConfig},
		{"compression.type", "producer", nil},
		{"compression.type", "zstd", nil},
		{"compression.type", "brotli", ErrInvalidConfig},
		{"message.timestamp.type", "LogAppendTime", nil},
		{"message.timestamp.type", "logappendtime", ErrInvalidConfig},
		{"min.insync.replicas", "2", nil},
		{"min.insync.replicas", "0", ErrInvalidConfig},
		{"replica.lag.time.max.ms", "10000", nil},
		{"replica.lag.time.max.ms", "0", ErrInvalidConfig},
		{"replica.lag.time.max.ms", "soon", ErrInvalidConfig},
		{"unclean.leader.election.enable", "TRUE", nil},
		{"unclean.leader.election.enable", "yes", ErrInvalidConfig},
		{"message.timestamp.before.max.ms", "3600000", nil},
		{"message.timestamp.after.max.ms", "-1", ErrInvalidConfig},
		{"min.cleanable.dirty.ratio", "0.9", nil},
		{"min.cleanable.dirty.ratio", "1.5", ErrInvalidConfig},
		{"min.cleanable.dirty.ratio", "NaN", ErrInvalidConfig},
		{"no.such.config", "1", ErrUnknownConfig},
	}
	for _, c := range cases {
		err := ValidateTopicConfig(c.name, c.value)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s=%q: got %v, want %v", c.name, c.value, err, c.want)
		}
		if err != nil && !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s=%q: error %q does not name the config", c.name, c.value, err)
		}
	}
}

// TestTopicConfigDefaultsValid: every built-in default passes its own
// validation, and the registry is sorted and free of duplicates.
func TestTopicConfigDefaultsValid(t *testing.T) {
	defs := TopicConfigs()
	for i, d := range defs {
		if err := ValidateTopicConfig(d.Name, d.Default); err != nil {
			t.Errorf("default of %s: %v", d.Name, err)
		}
		if i > 0 && defs[i-1].Name >= d.Name {
			t.Errorf("registry not sorted at %s", d.Name)
		}
		if got, ok := LookupTopicConfig(d.Name); !ok || got.Name != d.Name {
			t.Errorf("lookup %s: %v %v", d.Name, got.Name, ok)
		}
	}
	required := []string{"cleanup.policy", "compression.type", "retention.ms", "retention.bytes", "segment.bytes",
		"segment.ms", "segment.index.bytes", "index.interval.bytes", "max.message.bytes", "flush.messages", "flush.ms",
		"file.delete.delay.ms", "message.timestamp.type", "min.insync.replicas", "unclean.leader.election.enable",
		"replica.lag.time.max.ms", "message.timestamp.before.max.ms", "message.timestamp.after.max.ms"}
	for _, name := range required {
		if _, ok := LookupTopicConfig(name); !ok {
			t.Errorf("%s is not supported", name)
		}
	}
}

func TestEffectiveTopicConfig(t *testing.T) {
	defaults := Defaults{
		Cluster: map[string]string{"log.retention.bytes": "7", "min.insync.replicas": "3"},
		Static:  TopicDefaults{"retention.ms": "1000", "min.insync.replicas": "2", "retention.bytes": "9"},
	}
	overrides := map[string]string{"retention.ms": "5"}
	cases := []struct {
		name   string
		value  string
		source ConfigSource
	}{
		{"retention.ms", "5", SourceTopic},
		{"min.insync.replicas", "3", SourceClusterDynamic},
		{"retention.bytes", "7", SourceClusterDynamic},
		{"segment.ms", "604800000", SourceDefault},
		{"segment.bytes", "1073741824", SourceDefault},
	}
	for _, c := range cases {
		v, err := defaults.Effective(overrides, c.name)
		if err != nil || v.Value != c.value || v.Source != c.source {
			t.Errorf("%s: got %+v, %v; want %s from %d", c.name, v, err, c.value, c.source)
		}
	}
	if _, err := defaults.Effective(overrides, "nope"); !errors.Is(err, ErrUnknownConfig) {
		t.Errorf("unknown config: %v", err)
	}
	all := defaults.Describe(overrides)
	if len(all) != len(TopicConfigs()) || !slices.IsSortedFunc(all, func(a, b ConfigValue) int { return strings.Compare(a.Name, b.Name) }) {
		t.Errorf("Describe gave %d configs, unsorted or short", len(all))
	}
}

func TestClusterConfigs(t *testing.T) {
	for _, def := range TopicConfigs() {
		if got, ok := LookupClusterConfig(def.Broker); !ok || got.Name != def.Name {
			t.Errorf("%s: its broker config %q finds %q", def.Name, def.Broker, got.Name)
		}
	}
	if err := ValidateClusterConfig("log.retention.ms", "5"); err != nil {
		t.Errorf("log.retention.ms=5: %v", err)
	}
	if err := ValidateClusterConfig("log.retention.ms", "x"); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("log.retention.ms=x: %v", err)
	}
	for _, name := range []string{"retention.ms", "num.partitions"} {
		if err := ValidateClusterConfig(name, "5"); !errors.Is(err, ErrUnknownConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestTopicDefaultsValidate(t *testing.T) {
	if err := (TopicDefaults{"retention.ms": "1000"}).Validate(); err != nil {
		t.Error(err)
	}
	if err := (TopicDefaults{"retention.ms": "x"}).Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("bad default: %v", err)
	}
	if err := (TopicDefaults{"log.retention.ms": "1"}).Validate(); !errors.Is(err, ErrUnknownConfig) {
		t.Errorf("unknown default: %v", err)
	}
}

func TestSegmentConfig(t *testing.T) {
	got, err := Defaults{}.SegmentConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := segment.DefaultConfig(); got != want {
		t.Errorf("built-in defaults give\n%+v\nsegment's defaults are\n%+v", got, want)
	}

	defaults := Defaults{Static: TopicDefaults{"segment.bytes": "1048576", "retention.ms": "1000", "flush.messages": "1"}}
	got, err = defaults.SegmentConfig(map[string]string{
		"retention.ms": "5", "retention.bytes": "4096", "message.timestamp.type": "LogAppendTime", "max.message.bytes": "2000",
		"segment.ms": "60000", "segment.index.bytes": "4096", "index.interval.bytes": "100", "flush.ms": "10",
		"file.delete.delay.ms": "0", "delete.retention.ms": "7", "min.compaction.lag.ms": "8", "max.compaction.lag.ms": "9",
		"min.cleanable.dirty.ratio": "0.25",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := segment.Config{SegmentBytes: 1 << 20, SegmentMs: 60000, IndexIntervalBytes: 100, IndexBytesMax: 4096,
		BatchBytesMax: 2000, RetentionBytes: 4096, RetentionMs: 5, FlushMessages: 1, FlushMs: 10,
		FileDeleteDelayMs: 0, LogAppendTime: true,
		DeleteRetentionMs: 7, MinCompactionLagMs: 8, MaxCompactionLagMs: 9, MinCleanableDirtyRatio: 0.25}
	if got != want {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}

	// Without "delete" in cleanup.policy nothing is trimmed.
	got, err = defaults.SegmentConfig(map[string]string{"cleanup.policy": "compact"})
	if err != nil || got.RetentionMs != -1 || got.RetentionBytes != -1 || !got.Compact {
		t.Errorf("compact topic: %+v, %v", got, err)
	}
	got, err = defaults.SegmentConfig(map[string]string{"cleanup.policy": "compact,delete"})
	if err != nil || got.RetentionMs != 1000 || !got.Compact {
		t.Errorf("compact,delete topic: %+v, %v", got, err)
	}
	got, err = defaults.SegmentConfig(map[string]string{"cleanup.policy": "compact", "max.compaction.lag.ms": "5000"})
	if err != nil || got.SegmentMs != 5000 {
		t.Errorf("compact topic rolls by max.compaction.lag.ms: %+v, %v", got, err)
	}

	// A stored override that no longer validates is reported, not used.
	if _, err := defaults.SegmentConfig(map[string]string{"segment.ms": "0"}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("bad override: %v", err)
	}
	if got.FlushMs != 1000 {
		t.Errorf("flush.ms default %d", got.FlushMs)
	}
}

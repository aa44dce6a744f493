package daemon

import (
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon/kafka"
	"github.com/riffle/riffle/quorum"
)

// TestKafkaConfigKeys: every mapped key exists, and the topic defaults that
// config.toml leaves out equal Kafka's built-in ones, which DescribeConfigs
// then reports as DEFAULT_CONFIG.
func TestKafkaConfigKeys(t *testing.T) {
	c := DefaultConfig()
	names := map[string]bool{}
	for _, k := range kafkaConfigKeys {
		if _, ok := c.field(k.key); !ok || names[k.name] {
			t.Errorf("%s: key %s missing, or the name is listed twice", k.name, k.key)
		}
		names[k.name] = true
		if k.topic == "" {
			continue
		}
		def, ok := quorum.LookupTopicConfig(k.topic)
		if !ok || def.Default != c.value(k.key) {
			t.Errorf("topic config %s: built-in default %q, default.toml's %s %q", k.topic, def.Default, k.key, c.value(k.key))
		}
	}
	if len(c.staticTopicDefaults()) != 0 {
		t.Errorf("defaults alone give static topic defaults %v", c.staticTopicDefaults())
	}
}

func TestKafkaBrokerConfigSources(t *testing.T) {
	path := writeFile(t, "[log]\nretention_ms = 5000\n[groups]\noffsets_retention_ms = 7200000\n")
	c, err := ParseArgs([]string{"--config", path, "--set", "topics.default_partitions=3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]kafka.BrokerConfig{}
	for _, bc := range c.kafkaBrokerConfigs() {
		got[bc.Name] = bc
	}
	for name, want := range map[string]kafka.BrokerConfig{
		"log.retention.ms":          {Value: "5000", Default: "604800000", Static: true},
		"num.partitions":            {Value: "3", Default: "1", Static: true},
		"offsets.retention.minutes": {Value: "120", Default: "10080", Static: true},
		"log.segment.bytes":         {Value: "1073741824", Default: "1073741824"},
		"auto.create.topics.enable": {Value: "true", Default: "true"},
		"listeners":                 {Value: "PLAINTEXT://127.0.0.1:9092", Default: "PLAINTEXT://127.0.0.1:9092"},
		"min.insync.replicas":       {Value: "1", Default: "1"},
	} {
		bc := got[name]
		if bc.Value != want.Value || bc.Default != want.Default || bc.Static != want.Static || bc.Doc == "" || bc.Type == 0 {
			t.Errorf("%s: %+v, want %+v", name, bc, want)
		}
	}
	if _, ok := got["num.io.threads"]; ok {
		t.Error("num.io.threads is reported, but Riffle has no such setting")
	}
	if bc := got["log.cleaner.io.max.bytes.per.second"]; bc.Value != "1.7976931348623157E308" || bc.Type != kmsg.ConfigTypeDouble {
		t.Errorf("log.cleaner.io.max.bytes.per.second: %+v, want Java's double", bc)
	}
	if st := c.staticTopicDefaults(); len(st) != 1 || st["retention.ms"] != "5000" {
		t.Errorf("static topic defaults %v, want retention.ms only", st)
	}
	if td := c.TopicDefaults(); len(td) != 18 || td["retention.ms"] != "5000" || td["segment.bytes"] != "1073741824" {
		t.Errorf("topic defaults %v", td)
	}
}

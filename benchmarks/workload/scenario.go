package workload

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// ErrInvalid marks a scenario that cannot be run as written.
var ErrInvalid = errors.New("invalid scenario")

// Duration is a time.Duration written as "20s" in TOML and JSON.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Acks values, as a producer's acks setting.
const (
	AcksAll    = "all"    // every in-sync replica (acks=-1)
	AcksLeader = "leader" // the leader only (acks=1)
	AcksNone   = "none"   // no acknowledgement (acks=0)
)

// Key distributions, OpenMessaging Benchmark's three.
const (
	KeysNone       = "none"        // null keys: the client's partitioner spreads records
	KeysRandom     = "random"      // a fresh random key per record
	KeysRoundRobin = "round-robin" // keys cycle through a fixed set of KeyCount keys
)

// Compression codecs.
var codecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// StampBytes is the size of the send-time stamp at the start of each value.
const StampBytes = 8

// Scenario is one benchmark workload. The zero value of an optional field
// means the client library's default (noted per field).
type Scenario struct {
	Name        string `toml:"name" json:"name"`
	Description string `toml:"description" json:"description,omitempty"`

	Topics            int `toml:"topics" json:"topics"`
	Partitions        int `toml:"partitions_per_topic" json:"partitions_per_topic"`
	ReplicationFactor int `toml:"replication_factor" json:"replication_factor"`

	ProducersPerTopic int `toml:"producers_per_topic" json:"producers_per_topic"`
	ConsumersPerTopic int `toml:"consumers_per_topic" json:"consumers_per_topic"`
	// ConsumerGroup makes a topic's consumers share one consumer group; if
	// false they split the topic's partitions among themselves by direct
	// assignment (no group coordinator involved).
	ConsumerGroup bool `toml:"consumer_group" json:"consumer_group"`

	RecordBytes     int    `toml:"record_bytes" json:"record_bytes"`
	KeyDistribution string `toml:"key_distribution" json:"key_distribution"`
	KeyCount        int    `toml:"key_count" json:"key_count,omitempty"` // round-robin only

	Acks        string   `toml:"acks" json:"acks"`
	Linger      Duration `toml:"linger" json:"linger"`
	BatchBytes  int      `toml:"batch_bytes" json:"batch_bytes"` // 0: client default (franz-go: 1 MB)
	Compression string   `toml:"compression" json:"compression"`
	Idempotent  bool     `toml:"idempotent" json:"idempotent"`
	// MaxBufferedRecords bounds records a producer holds unacknowledged;
	// 0 is franz-go's default (50,000). NATS uses it as the async
	// publish window (0: 4096).
	MaxBufferedRecords int `toml:"max_buffered_records" json:"max_buffered_records"`

	// Rate is the offered load in records per second over all producers;
	// 0 sends as fast as the clients allow (max-rate discovery).
	Rate int `toml:"rate" json:"rate"`
	// Duration or Records ends the run: a measured time after warm-up, or
	// a total record count (including warm-up records). One must be set.
	Duration Duration `toml:"duration" json:"duration"`
	Records  int64    `toml:"records" json:"records,omitempty"`
	Warmup   Duration `toml:"warmup" json:"warmup"`
	// DrainTimeout bounds the wait for acknowledgements and consumers
	// after the last send.
	DrainTimeout Duration `toml:"drain_timeout" json:"drain_timeout"`
	// ConsumeOnly measures reading, not writing: the producers first
	// write Records records as fast as they can (not measured), then the
	// consumers start and read them all from the beginning, at max rate.
	ConsumeOnly bool `toml:"consume_only" json:"consume_only,omitempty"`
}

// Default returns the settings a scenario file starts from: OMB's
// 1-topic-1-partition-1kb at 50,000 records/s, acks=all, idempotent.
func Default() Scenario {
	return Scenario{
		Name:              "default",
		Topics:            1,
		Partitions:        1,
		ReplicationFactor: 1,
		ProducersPerTopic: 1,
		ConsumersPerTopic: 1,
		RecordBytes:       1024,
		KeyDistribution:   KeysNone,
		KeyCount:          1000,
		Acks:              AcksAll,
		Compression:       "none",
		Idempotent:        true,
		Rate:              50000,
		Duration:          Duration(20 * time.Second),
		Warmup:            Duration(5 * time.Second),
		DrainTimeout:      Duration(30 * time.Second),
	}
}

// Load reads a scenario file over Default.
func Load(path string) (Scenario, error) {
	s := Default()
	md, err := toml.DecodeFile(path, &s)
	if err != nil {
		return s, fmt.Errorf("scenario %s: %w", path, err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		return s, fmt.Errorf("scenario %s: unknown key %q: %w", path, un[0].String(), ErrInvalid)
	}
	if err := s.Validate(); err != nil {
		return s, fmt.Errorf("scenario %s: %w", path, err)
	}
	return s, nil
}

// Set applies one "key=value" override with the scenario file's key names,
// e.g. "rate=0", "duration=30s", "acks=leader". Strings need no quotes.
func (s *Scenario) Set(kv string) error {
	key, val, ok := strings.Cut(kv, "=")
	if !ok {
		return fmt.Errorf("override %q: want key=value: %w", kv, ErrInvalid)
	}
	key = strings.TrimSpace(key)
	val = strings.TrimSpace(val)
	md, err := toml.Decode(key+" = "+val, s)
	if err != nil {
		// Not a TOML literal: take it as a string.
		md, err = toml.Decode(key+" = "+fmt.Sprintf("%q", val), s)
	}
	if err != nil {
		return fmt.Errorf("override %q: %w", kv, err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		return fmt.Errorf("override %q: unknown key: %w", kv, ErrInvalid)
	}
	return nil
}

// Validate checks that the scenario can be run.
func (s *Scenario) Validate() error {
	var problems []string
	check := func(bad bool, format string, args ...any) {
		if bad {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	check(s.Name == "", "name is empty")
	check(s.Topics < 1, "topics = %d: must be at least 1", s.Topics)
	check(s.Partitions < 1, "partitions_per_topic = %d: must be at least 1", s.Partitions)
	check(s.ReplicationFactor < 1, "replication_factor = %d: must be at least 1", s.ReplicationFactor)
	check(s.ProducersPerTopic < 1, "producers_per_topic = %d: must be at least 1", s.ProducersPerTopic)
	check(s.ConsumersPerTopic < 0, "consumers_per_topic = %d: must not be negative", s.ConsumersPerTopic)
	check(s.RecordBytes < StampBytes, "record_bytes = %d: must be at least %d (the send-time stamp)", s.RecordBytes, StampBytes)
	check(!oneOf(s.KeyDistribution, KeysNone, KeysRandom, KeysRoundRobin), "key_distribution = %q: want none, random or round-robin", s.KeyDistribution)
	check(s.KeyDistribution == KeysRoundRobin && s.KeyCount < 1, "key_count = %d: must be at least 1", s.KeyCount)
	check(!oneOf(s.Acks, AcksAll, AcksLeader, AcksNone), "acks = %q: want all, leader or none", s.Acks)
	check(s.Idempotent && s.Acks != AcksAll, "idempotent = true needs acks = \"all\"")
	check(s.Linger < 0, "linger must not be negative")
	check(s.BatchBytes < 0, "batch_bytes must not be negative")
	check(!oneOf(s.Compression, codecs...), "compression = %q: want one of %v", s.Compression, codecs)
	check(s.MaxBufferedRecords < 0, "max_buffered_records must not be negative")
	check(s.Rate < 0, "rate = %d: must not be negative (0 = max rate)", s.Rate)
	check((s.Duration > 0) == (s.Records > 0), "set exactly one of duration and records")
	check(s.Duration < 0 || s.Records < 0 || s.Warmup < 0 || s.DrainTimeout < 0, "durations and counts must not be negative")
	check(s.DrainTimeout == 0, "drain_timeout must be positive")
	if s.ConsumeOnly {
		check(s.Records == 0, "consume_only needs records (how many to write, then read)")
		check(s.Rate != 0, "consume_only needs rate = 0 (the topic is filled as fast as it goes)")
		check(s.ConsumersPerTopic < 1, "consume_only needs consumers_per_topic of at least 1")
		check(s.Acks == AcksNone, "consume_only needs acks (all or leader) to know the topic is full")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %w", strings.Join(problems, "; "), ErrInvalid)
	}
	return nil
}

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

// Producers is the total number of producers.
func (s *Scenario) Producers() int { return s.Topics * s.ProducersPerTopic }

// Consumers is the total number of consumers.
func (s *Scenario) Consumers() int { return s.Topics * s.ConsumersPerTopic }

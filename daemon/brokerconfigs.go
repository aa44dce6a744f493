package daemon

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon/kafka"
	"github.com/riffle/riffle/quorum"
)

// kafkaConfigKey is a Kafka broker config that a config.toml key sets: what
// DescribeConfigs reports for this broker. Kafka's configs that Riffle
// does not honour (num.io.threads, ...) are left out.
type kafkaConfigKey struct {
	name  string          // Kafka's broker config
	key   string          // config.toml's section.key
	typ   kmsg.ConfigType // as Kafka types it
	topic string          // the topic config it is the default of, if any
	// kafkaValue converts our value to Kafka's form; nil: the same.
	kafkaValue func(string) string
}

var kafkaConfigKeys = []kafkaConfigKey{
	{name: "advertised.listeners", key: "broker.advertised_listeners", typ: kmsg.ConfigTypeString},
	{name: "allow.everyone.if.no.acl.found", key: "security.allow_everyone_if_no_acl_found", typ: kmsg.ConfigTypeBoolean},
	{name: "auto.create.topics.enable", key: "topics.auto_create", typ: kmsg.ConfigTypeBoolean},
	{name: "broker.id", key: "broker.node_id", typ: kmsg.ConfigTypeInt},
	{name: "connections.max.idle.ms", key: "network.idle_timeout_ms", typ: kmsg.ConfigTypeLong},
	{name: "connections.max.reauth.ms", key: "security.connections_max_reauth_ms", typ: kmsg.ConfigTypeLong},
	{name: "controller.quorum.voters", key: "cluster.voters", typ: kmsg.ConfigTypeList},
	{name: "default.replication.factor", key: "topics.default_replication_factor", typ: kmsg.ConfigTypeInt},
	{name: "fetch.max.bytes", key: "fetch.max_bytes", typ: kmsg.ConfigTypeInt},
	{name: "group.initial.rebalance.delay.ms", key: "groups.initial_rebalance_delay_ms", typ: kmsg.ConfigTypeInt},
	{name: "group.max.session.timeout.ms", key: "groups.session_timeout_ms_max", typ: kmsg.ConfigTypeInt},
	{name: "group.max.size", key: "groups.group_size_max", typ: kmsg.ConfigTypeInt},
	{name: "group.min.session.timeout.ms", key: "groups.session_timeout_ms_min", typ: kmsg.ConfigTypeInt},
	{name: "inter.broker.listener.name", key: "broker.inter_broker_listener_name", typ: kmsg.ConfigTypeString},
	{name: "listener.security.protocol.map", key: "broker.listener_security_protocol_map", typ: kmsg.ConfigTypeString},
	{name: "quota.window.num", key: "security.quota_window_num", typ: kmsg.ConfigTypeInt},
	{name: "quota.window.size.seconds", key: "security.quota_window_size_seconds", typ: kmsg.ConfigTypeInt},
	{name: "listeners", key: "broker.listen", typ: kmsg.ConfigTypeString, kafkaValue: func(v string) string { return "PLAINTEXT://" + v }},
	{name: "log.cleaner.backoff.ms", key: "log.cleaner_backoff_ms", typ: kmsg.ConfigTypeLong},
	{name: "log.cleaner.dedupe.buffer.size", key: "log.cleaner_dedupe_buffer_size", typ: kmsg.ConfigTypeLong},
	{name: "log.cleaner.delete.retention.ms", key: "log.delete_retention_ms", typ: kmsg.ConfigTypeLong, topic: "delete.retention.ms"},
	{name: "log.cleaner.enable", key: "log.cleaner_enable", typ: kmsg.ConfigTypeBoolean},
	{name: "log.cleaner.io.max.bytes.per.second", key: "log.cleaner_io_max_bytes_per_second", typ: kmsg.ConfigTypeDouble, kafkaValue: kafkaDouble},
	{name: "log.cleaner.max.compaction.lag.ms", key: "log.max_compaction_lag_ms", typ: kmsg.ConfigTypeLong, topic: "max.compaction.lag.ms"},
	{name: "log.cleaner.min.cleanable.ratio", key: "log.min_cleanable_dirty_ratio", typ: kmsg.ConfigTypeDouble, topic: "min.cleanable.dirty.ratio", kafkaValue: kafkaDouble},
	{name: "log.cleaner.min.compaction.lag.ms", key: "log.min_compaction_lag_ms", typ: kmsg.ConfigTypeLong, topic: "min.compaction.lag.ms"},
	{name: "log.cleaner.threads", key: "log.cleaner_threads", typ: kmsg.ConfigTypeInt},
	{name: "log.cleanup.policy", key: "log.cleanup_policy", typ: kmsg.ConfigTypeList, topic: "cleanup.policy"},
	{name: "log.dirs", key: "broker.data_dir", typ: kmsg.ConfigTypeString},
	{name: "log.flush.interval.messages", key: "log.flush_messages", typ: kmsg.ConfigTypeLong, topic: "flush.messages"},
	{name: "log.flush.interval.ms", key: "log.flush_ms", typ: kmsg.ConfigTypeLong, topic: "flush.ms"},
	{name: "log.index.interval.bytes", key: "log.index_interval_bytes", typ: kmsg.ConfigTypeInt, topic: "index.interval.bytes"},
	{name: "log.index.size.max.bytes", key: "log.segment_index_bytes", typ: kmsg.ConfigTypeInt, topic: "segment.index.bytes"},
	{name: "log.message.timestamp.type", key: "log.message_timestamp_type", typ: kmsg.ConfigTypeString, topic: "message.timestamp.type"},
	{name: "log.retention.bytes", key: "log.retention_bytes", typ: kmsg.ConfigTypeLong, topic: "retention.bytes"},
	{name: "log.retention.ms", key: "log.retention_ms", typ: kmsg.ConfigTypeLong, topic: "retention.ms"},
	{name: "log.roll.ms", key: "log.segment_ms", typ: kmsg.ConfigTypeLong, topic: "segment.ms"},
	{name: "log.segment.bytes", key: "log.segment_bytes", typ: kmsg.ConfigTypeInt, topic: "segment.bytes"},
	{name: "log.segment.delete.delay.ms", key: "log.file_delete_delay_ms", typ: kmsg.ConfigTypeLong, topic: "file.delete.delay.ms"},
	{name: "max.connections", key: "network.max_connections", typ: kmsg.ConfigTypeInt},
	{name: "max.incremental.fetch.session.cache.slots", key: "fetch.fetch_sessions_max", typ: kmsg.ConfigTypeInt},
	{name: "message.max.bytes", key: "log.max_message_bytes", typ: kmsg.ConfigTypeInt, topic: "max.message.bytes"},
	{name: "min.insync.replicas", key: "log.min_insync_replicas", typ: kmsg.ConfigTypeInt, topic: "min.insync.replicas"},
	{name: "node.id", key: "broker.node_id", typ: kmsg.ConfigTypeInt},
	{name: "num.partitions", key: "topics.default_partitions", typ: kmsg.ConfigTypeInt},
	{name: "offset.metadata.max.bytes", key: "groups.offset_metadata_bytes_max", typ: kmsg.ConfigTypeInt},
	{name: "offsets.retention.check.interval.ms", key: "groups.offsets_retention_check_interval_ms", typ: kmsg.ConfigTypeLong},
	{name: "offsets.retention.minutes", key: "groups.offsets_retention_ms", typ: kmsg.ConfigTypeInt, kafkaValue: msToMinutes},
	{name: "offsets.topic.num.partitions", key: "groups.offsets_topic_partitions", typ: kmsg.ConfigTypeInt},
	{name: "offsets.topic.replication.factor", key: "groups.offsets_topic_replication_factor", typ: kmsg.ConfigTypeShort},
	{name: "queued.max.request.bytes", key: "network.queued_max_request_bytes", typ: kmsg.ConfigTypeLong},
	{name: "replica.fetch.backoff.ms", key: "replication.replica_fetch_backoff_ms", typ: kmsg.ConfigTypeInt},
	{name: "replica.fetch.max.bytes", key: "replication.replica_fetch_max_bytes", typ: kmsg.ConfigTypeInt},
	{name: "replica.fetch.response.max.bytes", key: "replication.replica_fetch_response_max_bytes", typ: kmsg.ConfigTypeInt},
	{name: "replica.fetch.wait.max.ms", key: "replication.replica_fetch_wait_max_ms", typ: kmsg.ConfigTypeInt},
	{name: "replica.high.watermark.checkpoint.interval.ms", key: "replication.replica_high_watermark_checkpoint_interval_ms", typ: kmsg.ConfigTypeLong},
	// Also a Riffle topic config; Kafka's is the broker's only.
	{name: "replica.lag.time.max.ms", key: "replication.replica_lag_time_max_ms", typ: kmsg.ConfigTypeLong, topic: "replica.lag.time.max.ms"},
	{name: "sasl.enabled.mechanisms", key: "security.sasl_enabled_mechanisms", typ: kmsg.ConfigTypeList},
	{name: "socket.request.max.bytes", key: "network.max_request_bytes", typ: kmsg.ConfigTypeInt},
	{name: "ssl.client.auth", key: "security.ssl_client_auth", typ: kmsg.ConfigTypeString},
	{name: "super.users", key: "security.super_users", typ: kmsg.ConfigTypeList},
	{name: "transaction.max.timeout.ms", key: "transactions.transaction_max_timeout_ms", typ: kmsg.ConfigTypeInt},
	{name: "transaction.state.log.num.partitions", key: "transactions.state_topic_partitions", typ: kmsg.ConfigTypeInt},
	{name: "transaction.state.log.replication.factor", key: "transactions.state_topic_replication_factor", typ: kmsg.ConfigTypeShort},
	{name: "transactional.id.expiration.ms", key: "transactions.transactional_id_expiration_ms", typ: kmsg.ConfigTypeInt},
}

// kafkaDouble writes a double as Java's Double.toString does: "0.5",
// "1.0E7", "1.7976931348623157E308".
func kafkaDouble(v string) string {
	x, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return v
	}
	if a := math.Abs(x); x == 0 || a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(x, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(x, 'E', -1, 64), "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// msToMinutes is groups.offsets_retention_ms as offsets.retention.minutes
// (whole minutes, rounded down).
func msToMinutes(ms string) string {
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return ms
	}
	return strconv.FormatInt(n/60000, 10)
}

// value is a key's value as text; the key must exist (a test checks
// every one in kafkaConfigKeys).
func (c *Config) value(key string) string {
	f, ok := c.field(key)
	if !ok {
		panic("daemon: no config key " + key)
	}
	return fmt.Sprint(f.value.Interface())
}

// TopicDefaults are the [log] keys and replication.replica_lag_time_max_ms
// as the broker's topic config defaults, by Kafka's topic config names:
// what a topic without overrides gets.
func (c *Config) TopicDefaults() quorum.TopicDefaults {
	d := quorum.TopicDefaults{}
	for _, k := range kafkaConfigKeys {
		if k.topic != "" {
			d[k.topic] = c.value(k.key)
		}
	}
	return d
}

// staticTopicDefaults are the topic defaults the config file or --set
// gave: DescribeConfigs reports those as STATIC_BROKER_CONFIG. The others
// equal the built-in defaults (a test checks), reported as DEFAULT_CONFIG.
func (c *Config) staticTopicDefaults() quorum.TopicDefaults {
	d := quorum.TopicDefaults{}
	for _, k := range kafkaConfigKeys {
		if k.topic != "" && c.explicit[k.key] {
			d[k.topic] = c.value(k.key)
		}
	}
	return d
}

// kafkaBrokerConfigs are this broker's settings under Kafka's names, each
// with its default (default.toml's) and whether the file or --set gave it.
func (c *Config) kafkaBrokerConfigs() []kafka.BrokerConfig {
	defaults := DefaultConfig()
	out := make([]kafka.BrokerConfig, 0, len(kafkaConfigKeys))
	for _, k := range kafkaConfigKeys {
		value, def := c.value(k.key), defaults.value(k.key)
		if k.kafkaValue != nil {
			value, def = k.kafkaValue(value), k.kafkaValue(def)
		}
		if k.name == "listeners" && c.Broker.Listeners != "" {
			// broker.listeners replaces broker.listen.
			out = append(out, kafka.BrokerConfig{Name: k.name, Value: c.Broker.Listeners, Default: def, Static: true,
				Type: k.typ, Doc: "config.toml: broker.listeners"})
			continue
		}
		out = append(out, kafka.BrokerConfig{Name: k.name, Value: value, Default: def, Static: c.explicit[k.key],
			Type: k.typ, Doc: "config.toml: " + k.key})
	}
	return out
}

package kafka

import (
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon/auth"
	"github.com/riffle/riffle/daemon/group"
	"github.com/riffle/riffle/daemon/txn"
	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
)

// Config is what the Kafka layer needs from the broker's configuration.
type Config struct {
	NodeID                   int32
	AutoCreateTopics         bool
	DefaultPartitions        int32
	DefaultReplicationFactor int16
	// AutoCreateRatePerSec is the token bucket auto-creates in Metadata
	// draw from (bursts of as many); AutoCreatePerRequestMax caps them per
	// request (0: both unlimited).
	AutoCreateRatePerSec    int
	AutoCreatePerRequestMax int
	// PartitionsPerRequestMax caps the partitions one CreateTopics or
	// CreatePartitions request adds (0: unlimited).
	PartitionsPerRequestMax int
	// CompressionValidation decompresses compressed batches on produce to
	// check their records, as Kafka's leader does.
	CompressionValidation bool
	// TopicDefaults are the topic config defaults that config.toml sets:
	// the STATIC_BROKER_CONFIG values DescribeConfigs and CreateTopics
	// report. The others are the built-in defaults.
	TopicDefaults quorum.TopicDefaults
	// BrokerConfigs are the broker configs DescribeConfigs reports for
	// this broker.
	BrokerConfigs    []BrokerConfig
	FetchSessionsMax int
	// DataDir is the data directory's absolute path (DescribeLogDirs).
	DataDir string
	// FetchWaitMsMax caps a Fetch's max_wait_ms (0: never wait);
	// FetchBytesMax caps its max_bytes (0: as the request says).
	FetchWaitMsMax int64
	FetchBytesMax  int32
	// ReplicaSelector is replication.replica_selector: SelectorLeader or
	// SelectorRackAware (consumers fetch from a replica in their rack,
	// KIP-392).
	ReplicaSelector string
	// Groups serves the group APIs (FindCoordinator aside); without it
	// they close the connection.
	Groups *group.Coordinator
	// Txns serves the transaction APIs; without it they close the
	// connection.
	Txns *txn.Coordinator
	// Quorum reports the metadata quorum as this node sees it
	// (DescribeQuorum); without it DescribeQuorum is NOT_CONTROLLER.
	Quorum func() (quorum.QuorumView, error)
	// Observer, if set, is told of requests, error codes and partition
	// traffic (metrics).
	Observer Observer
	// Listeners are the broker's listeners by name: their security
	// protocols and advertised endpoints. A connection on a listener not
	// named here is PLAINTEXT and advertised as registered.
	Listeners map[string]auth.Bound
	// SASLMechanisms are the mechanisms SASL listeners offer
	// (sasl.enabled.mechanisms); ReauthMs is connections.max.reauth.ms
	// (0: sessions never expire).
	SASLMechanisms []string
	ReauthMs       int64
	// Authorizer, if set, checks every request against the ACLs
	// (authorize.go); nil serves everyone everything, as Kafka without
	// an authorizer.
	Authorizer *auth.Authorizer
	// QuotaWindowNum samples of QuotaWindowSize measure client quotas
	// (quota.go; Kafka's quota.window.num, quota.window.size.seconds;
	// 11 and 1 s when 0).
	QuotaWindowNum  int
	QuotaWindowSize time.Duration
	Now             func() time.Time // time.Now when nil
	Logger          *slog.Logger     // slog.Default() when nil
}

// BrokerConfig is one of this broker's configs under Kafka's name.
type BrokerConfig struct {
	Name, Value string
	Default     string // its value when config.toml leaves it out
	Static      bool   // set by config.toml or --set (STATIC_BROKER_CONFIG), else DEFAULT_CONFIG
	Type        kmsg.ConfigType
	Doc         string
}

// Partitions finds the replicas this broker hosts.
type Partitions interface {
	// Partition returns the hosted replica, or nil when this broker has none
	// (yet: a topic just created may take a moment to open).
	Partition(topic string, partition int32) *replica.Partition
}

// Broker serves the Kafka APIs. It implements netio.Handler.
type Broker struct {
	cfg   Config
	ctrl  quorum.Metadata
	parts Partitions
	log   *slog.Logger

	sessions   *fetchSessions
	autoCreate *tokenBucket
	quotas     *quotaRates
}

// New returns a Broker answering from the controller's metadata and the
// hosted partitions.
func New(cfg Config, ctrl quorum.Metadata, parts Partitions) *Broker {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Broker{cfg: cfg, ctrl: ctrl, parts: parts, log: cfg.Logger,
		sessions:   newFetchSessions(cfg.FetchSessionsMax),
		autoCreate: newTokenBucket(cfg.AutoCreateRatePerSec, cfg.Now),
		quotas:     newQuotaRates(cfg.QuotaWindowNum, cfg.QuotaWindowSize)}
}

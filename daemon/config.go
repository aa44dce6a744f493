package daemon

import (
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/sys/unix"

	"github.com/riffle/riffle/daemon/auth"
	"github.com/riffle/riffle/daemon/kafka"
	"github.com/riffle/riffle/netio"
)

// maxRackBytes bounds broker.rack: it travels in every Metadata response.
const maxRackBytes = 255

// defaultTOML is the documented default configuration; the repository's
// config.toml is a byte-identical copy (a test checks).
//
//go:embed default.toml
var defaultTOML string

// Config is the broker's whole configuration, one struct per TOML section.
// Field tags carry each key's name and its limits: min/max (inclusive) for
// integers, oneof (space-separated) for strings; Validate enforces them and
// the cross-key rules.
type Config struct {
	Broker  BrokerConfig  `toml:"broker"`
	Network NetworkConfig `toml:"network"`
	Topics  TopicsConfig  `toml:"topics"`
	Log     LogConfig     `toml:"log"`
	Fetch   FetchConfig   `toml:"fetch"`
	Groups  GroupsConfig  `toml:"groups"`
	Cluster ClusterConfig `toml:"cluster"`
	// Replication is the [replication] section.
	Replication ReplicationConfig `toml:"replication"`
	// Transactions is the [transactions] section.
	Transactions TransactionsConfig `toml:"transactions"`
	Security     SecurityConfig     `toml:"security"`

	// explicit holds the keys ("log.retention_ms") that a config file or
	// Set gave a value: DescribeConfigs reports them as
	// STATIC_BROKER_CONFIG, the rest as DEFAULT_CONFIG.
	explicit map[string]bool
}

// BrokerConfig is the [broker] section: identity, addresses, process.
type BrokerConfig struct {
	NodeID            int32  `toml:"node_id" min:"0" max:"2147483647"`
	Listen            string `toml:"listen"`
	AdvertisedHost    string `toml:"advertised_host"`
	DataDir           string `toml:"data_dir"`
	AdminListen       string `toml:"admin_listen"`
	LogLevel          string `toml:"log_level" oneof:"debug info warn error"`
	ShutdownTimeoutMs int64  `toml:"shutdown_timeout_ms" min:"1000" max:"3600000"`
	ReadyFile         string `toml:"ready_file"`
	MemoryLimitBytes  int64  `toml:"memory_limit_bytes" min:"0" max:"9223372036854775807"`
	Rack              string `toml:"rack"`
	// Listeners, when set, replaces Listen (Kafka's listeners,
	// advertised.listeners, inter.broker.listener.name and
	// listener.security.protocol.map); see listeners.go.
	Listeners                   string `toml:"listeners"`
	AdvertisedListeners         string `toml:"advertised_listeners"`
	InterBrokerListenerName     string `toml:"inter_broker_listener_name"`
	ListenerSecurityProtocolMap string `toml:"listener_security_protocol_map"`
	// The admin listener's protection (adminsecurity.go).
	AdminTLS       bool   `toml:"admin_tls"`
	AdminTokenFile string `toml:"admin_token_file"`
	AdminPprof     bool   `toml:"admin_pprof"`
}

// NetworkConfig is the [network] section: listener limits.
type NetworkConfig struct {
	EventLoops                    int   `toml:"event_loops" min:"0" max:"1024"`
	MaxRequestBytes               int32 `toml:"max_request_bytes" min:"1024" max:"2147483647"`
	MaxConnections                int   `toml:"max_connections" min:"1" max:"1000000"`
	MaxInflightBytesPerConnection int64 `toml:"max_inflight_bytes_per_connection" min:"65536" max:"17179869184"`
	IdleTimeoutMs                 int64 `toml:"idle_timeout_ms" min:"1000" max:"86400000"`
	QueuedMaxRequestBytes         int64 `toml:"queued_max_request_bytes" min:"1024" max:"1099511627776"`
	RequestTimeoutMs              int64 `toml:"request_timeout_ms" min:"100" max:"3600000"`
	CopyRegionBytesMax            int64 `toml:"copy_region_bytes_max" min:"0" max:"16777216"`
}

// TopicsConfig is the [topics] section: topic creation.
type TopicsConfig struct {
	AutoCreate               bool  `toml:"auto_create"`
	DefaultPartitions        int32 `toml:"default_partitions" min:"1" max:"1000000"`
	DefaultReplicationFactor int16 `toml:"default_replication_factor" min:"1" max:"32767"`
	PartitionsMax            int32 `toml:"partitions_max" min:"1" max:"1000000"`
	MaxPartitionsPerBroker   int32 `toml:"max_partitions_per_broker" min:"1" max:"1000000"`
	MaxTopics                int32 `toml:"max_topics" min:"1" max:"1000000"`
	MaxPartitionsPerRequest  int32 `toml:"max_partitions_per_request" min:"1" max:"1000000"`
	AutoCreateRatePerSec     int32 `toml:"auto_create_rate_per_sec" min:"1" max:"1000000"`
	MaxAutoCreatePerRequest  int32 `toml:"max_auto_create_per_request" min:"1" max:"1000000"`
}

// LogConfig is the [log] section: defaults of the per-topic configs.
type LogConfig struct {
	SegmentBytes          int64  `toml:"segment_bytes" min:"1024" max:"2147483647"`
	SegmentMs             int64  `toml:"segment_ms" min:"1" max:"9223372036854775807"`
	RetentionMs           int64  `toml:"retention_ms" min:"-1" max:"9223372036854775807"`
	RetentionBytes        int64  `toml:"retention_bytes" min:"-1" max:"9223372036854775807"`
	IndexIntervalBytes    int32  `toml:"index_interval_bytes" min:"0" max:"2147483647"`
	SegmentIndexBytes     int32  `toml:"segment_index_bytes" min:"1024" max:"2147483647"`
	MaxMessageBytes       int32  `toml:"max_message_bytes" min:"64" max:"2147483647"`
	FlushMessages         int64  `toml:"flush_messages" min:"1" max:"9223372036854775807"`
	FlushMs               int64  `toml:"flush_ms" min:"0" max:"9223372036854775807"`
	SyncEveryAppend       bool   `toml:"sync_every_append"`
	FileDeleteDelayMs     int64  `toml:"file_delete_delay_ms" min:"0" max:"9223372036854775807"`
	MessageTimestampType  string `toml:"message_timestamp_type" oneof:"CreateTime LogAppendTime"`
	CleanupPolicy         string `toml:"cleanup_policy" oneof:"delete compact compact,delete delete,compact"`
	MinInsyncReplicas     int16  `toml:"min_insync_replicas" min:"1" max:"32767"`
	CompressionValidation bool   `toml:"compression_validation"`
	OpenFilesMax          int    `toml:"open_files_max" min:"64" max:"10000000"`
	// Compaction: topic defaults, then the log cleaner's settings.
	DeleteRetentionMs          int64   `toml:"delete_retention_ms" min:"0" max:"9223372036854775807"`
	MinCompactionLagMs         int64   `toml:"min_compaction_lag_ms" min:"0" max:"9223372036854775807"`
	MaxCompactionLagMs         int64   `toml:"max_compaction_lag_ms" min:"1" max:"9223372036854775807"`
	MinCleanableDirtyRatio     float64 `toml:"min_cleanable_dirty_ratio"` // 0 to 1, checked by Validate
	CleanerEnable              bool    `toml:"cleaner_enable"`
	CleanerThreads             int     `toml:"cleaner_threads" min:"1" max:"64"`
	CleanerDedupeBufferSize    int64   `toml:"cleaner_dedupe_buffer_size" min:"24576" max:"9223372036854775807"`
	CleanerIOMaxBytesPerSecond float64 `toml:"cleaner_io_max_bytes_per_second"` // > 0, checked by Validate
	CleanerBackoffMs           int64   `toml:"cleaner_backoff_ms" min:"0" max:"9223372036854775807"`
}

// FetchConfig is the [fetch] section: limits on consumer and follower fetches.
type FetchConfig struct {
	MaxWaitMsMax     int64 `toml:"max_wait_ms_max" min:"0" max:"300000"`
	MaxBytes         int32 `toml:"max_bytes" min:"1024" max:"2147483647"`
	FetchSessionsMax int   `toml:"fetch_sessions_max" min:"0" max:"1000000"`
}

// ClusterConfig is the [cluster] section: the metadata quorum.
type ClusterConfig struct {
	Voters                         string `toml:"voters"` // id@host:port,...; "" runs a quorum of one
	Listen                         string `toml:"listen"`
	AutoLeaderRebalanceEnable      bool   `toml:"auto_leader_rebalance_enable"`
	LeaderImbalanceCheckIntervalMs int64  `toml:"leader_imbalance_check_interval_ms" min:"1" max:"2147483647"`
	BrokerSessionTimeoutMs         int64  `toml:"broker_session_timeout_ms" min:"1" max:"2147483647"`
	BrokerHeartbeatIntervalMs      int64  `toml:"broker_heartbeat_interval_ms" min:"1" max:"2147483647"`
	// TLS makes every cluster connection mutual TLS with the [security]
	// certificate, key and CA.
	TLS bool `toml:"tls"`
}

// ReplicationConfig is the [replication] section: followers fetching from
// their leaders and the leaders' ISR upkeep (Kafka's replica.* broker
// configs).
type ReplicationConfig struct {
	ReplicaLagTimeMaxMs           int64 `toml:"replica_lag_time_max_ms" min:"1" max:"9223372036854775807"`
	ReplicaFetchWaitMaxMs         int32 `toml:"replica_fetch_wait_max_ms" min:"1" max:"2147483647"`
	ReplicaFetchMaxBytes          int32 `toml:"replica_fetch_max_bytes" min:"1" max:"2147483647"`
	ReplicaFetchResponseMaxBytes  int32 `toml:"replica_fetch_response_max_bytes" min:"1" max:"2147483647"`
	ReplicaFetchBackoffMs         int32 `toml:"replica_fetch_backoff_ms" min:"1" max:"2147483647"`
	ReplicaHWCheckpointIntervalMs int64 `toml:"replica_high_watermark_checkpoint_interval_ms" min:"1" max:"9223372036854775807"`
	// ReplicaSelector is "" or "rack-aware" (a oneof tag cannot list "").
	ReplicaSelector string `toml:"replica_selector"`
}

// Voter is one entry of cluster.voters: a node id and its cluster listener.
type Voter struct {
	ID   int32
	Addr string // host:port
}

// ParseVoters parses cluster.voters: comma-separated id@host:port entries
// with unique ids and addresses. "" is no voter list (nil).
func ParseVoters(s string) ([]Voter, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []Voter
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		idText, addr, ok := strings.Cut(entry, "@")
		if !ok {
			return nil, fmt.Errorf("entry %q: want id@host:port", entry)
		}
		id, err := strconv.ParseInt(idText, 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("entry %q: node id %q is not a number from 0 to 2147483647", entry, idText)
		}
		if err := checkHostPort(addr); err != nil {
			return nil, fmt.Errorf("entry %q: %w", entry, err)
		}
		if _, port, _ := net.SplitHostPort(addr); port == "0" {
			return nil, fmt.Errorf("entry %q: port 0: the other nodes must know the port", entry)
		}
		for _, v := range out {
			if v.ID == int32(id) {
				return nil, fmt.Errorf("node id %d appears twice", id)
			}
			if v.Addr == addr {
				return nil, fmt.Errorf("address %s appears twice (nodes %d and %d)", addr, v.ID, id)
			}
		}
		out = append(out, Voter{ID: int32(id), Addr: addr})
	}
	return out, nil
}

// Voters is cluster.voters parsed (valid after Validate); nil for a single node.
func (c *Config) Voters() []Voter {
	v, err := ParseVoters(c.Cluster.Voters)
	if err != nil {
		panic(fmt.Sprintf("unvalidated cluster.voters %q: %v", c.Cluster.Voters, err))
	}
	return v
}

// DefaultConfig returns the embedded defaults (daemon/default.toml).
func DefaultConfig() Config {
	var c Config
	if _, err := c.decode(defaultTOML, "embedded default.toml"); err != nil {
		panic(err) // the embedded file is checked by TestDefaultConfigValid
	}
	return c
}

// LoadConfigFile reads the TOML file at path over c. Keys the file leaves out
// keep their values; an unknown key is an error naming it. The result is not
// validated: call Validate once every source is applied.
func (c *Config) LoadConfigFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	md, err := c.decode(string(data), path)
	for _, k := range md.Keys() {
		if len(k) == 2 { // section.key, not the section
			c.markExplicit(k.String())
		}
	}
	return err
}

// decode reads the TOML text data, named source in messages, over c.
func (c *Config) decode(data, source string) (toml.MetaData, error) {
	md, err := toml.Decode(data, c)
	if err != nil {
		return md, fmt.Errorf("config: %s: %w", source, err)
	}
	var errs []error
	for _, k := range md.Undecoded() {
		errs = append(errs, fmt.Errorf("config: unknown key %q in %s", k.String(), source))
	}
	return md, errors.Join(errs...)
}

func (c *Config) markExplicit(key string) {
	if c.explicit == nil {
		c.explicit = map[string]bool{}
	}
	c.explicit[key] = true
}

// Set parses value for the key "section.key" and stores it, as a TOML file
// setting that key would. Strings are taken literally (no quotes needed).
// Limits are checked later by Validate.
func (c *Config) Set(key, value string) error {
	f, ok := c.field(key)
	if !ok {
		return fmt.Errorf("unknown key %q", key)
	}
	switch f.value.Kind() {
	case reflect.String:
		f.value.SetString(value)
	case reflect.Bool:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return fmt.Errorf("%s: want true or false, got %q", key, value)
		}
		f.value.SetBool(b)
	case reflect.Int, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.ReplaceAll(value, "_", ""), 10, f.value.Type().Bits())
		if err != nil {
			return fmt.Errorf("%s: want an integer of %d bits, got %q", key, f.value.Type().Bits(), value)
		}
		f.value.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(strings.ReplaceAll(value, "_", ""), 64)
		if err != nil {
			return fmt.Errorf("%s: want a number, got %q", key, value)
		}
		f.value.SetFloat(x)
	default:
		panic(fmt.Sprintf("config key %s has unsupported type %s", key, f.value.Type()))
	}
	c.markExplicit(key)
	return nil
}

// Validate checks every key against its limits and the rules between keys.
// Each problem is one line naming the key, the value and what is allowed.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key string, v any, format string, args ...any) {
		if s, ok := v.(string); ok {
			v = strconv.Quote(s)
		}
		errs = append(errs, fmt.Errorf("config: %s = %v: %s", key, v, fmt.Sprintf(format, args...)))
	}
	for _, f := range c.fields() {
		if err := f.check(); err != "" {
			bad(f.key, f.value.Interface(), "%s", err)
		}
	}
	b := c.Broker
	if err := checkHostPort(b.Listen); err != nil {
		bad("broker.listen", b.Listen, "%v", err)
	} else if host, _, _ := net.SplitHostPort(b.Listen); b.Listeners == "" && b.AdvertisedHost == "" && isWildcard(host) {
		bad("broker.advertised_host", b.AdvertisedHost, "must be set when broker.listen binds every address (%s)", b.Listen)
	}
	if b.AdminListen != "" {
		if err := checkHostPort(b.AdminListen); err != nil {
			bad("broker.admin_listen", b.AdminListen, "%v", err)
		}
	}
	if b.DataDir == "" {
		bad("broker.data_dir", b.DataDir, "must not be empty")
	}
	if b.MemoryLimitBytes != 0 && b.MemoryLimitBytes < minMemoryLimitBytes {
		bad("broker.memory_limit_bytes", b.MemoryLimitBytes, "must be 0 or at least %d", minMemoryLimitBytes)
	}
	if c.Topics.DefaultPartitions > c.Topics.PartitionsMax {
		bad("topics.default_partitions", c.Topics.DefaultPartitions, "must be <= topics.partitions_max (%d)", c.Topics.PartitionsMax)
	}
	if r := c.Log.MinCleanableDirtyRatio; !(r >= 0 && r <= 1) {
		bad("log.min_cleanable_dirty_ratio", r, "must be from 0 to 1")
	}
	if r := c.Log.CleanerIOMaxBytesPerSecond; !(r > 0) {
		bad("log.cleaner_io_max_bytes_per_second", r, "must be above 0")
	}
	if c.Log.CleanerDedupeBufferSize < int64(c.Log.CleanerThreads)*24576 {
		bad("log.cleaner_dedupe_buffer_size", c.Log.CleanerDedupeBufferSize, "must be at least 24576 per cleaner thread (%d threads): 1024 keys", c.Log.CleanerThreads)
	}
	if c.Log.MaxMessageBytes >= c.Network.MaxRequestBytes {
		bad("log.max_message_bytes", c.Log.MaxMessageBytes, "must be < network.max_request_bytes (%d): a batch travels inside a request", c.Network.MaxRequestBytes)
	}
	if c.Network.QueuedMaxRequestBytes < int64(c.Network.MaxRequestBytes) {
		bad("network.queued_max_request_bytes", c.Network.QueuedMaxRequestBytes, "must be >= network.max_request_bytes (%d): a request must fit", c.Network.MaxRequestBytes)
	}
	if r := c.Replication; int64(r.ReplicaFetchWaitMaxMs) > r.ReplicaLagTimeMaxMs {
		bad("replication.replica_fetch_wait_max_ms", r.ReplicaFetchWaitMaxMs,
			"must be <= replication.replica_lag_time_max_ms (%d): a follower waiting longer on an idle leader would drop out of the ISR", r.ReplicaLagTimeMaxMs)
	}
	if cl := c.Cluster; cl.BrokerHeartbeatIntervalMs >= cl.BrokerSessionTimeoutMs {
		bad("cluster.broker_heartbeat_interval_ms", cl.BrokerHeartbeatIntervalMs,
			"must be < cluster.broker_session_timeout_ms (%d): a broker heartbeating less often than its session lasts is fenced", cl.BrokerSessionTimeoutMs)
	}
	if err := kafka.ValidateReplicaSelector(c.Replication.ReplicaSelector); err != nil {
		bad("replication.replica_selector", c.Replication.ReplicaSelector, "must be \"\" (consumers read from the leader) or %q", kafka.SelectorRackAware)
	}
	if len(b.Rack) > maxRackBytes {
		bad("broker.rack", b.Rack, "longer than %d bytes", maxRackBytes)
	}
	c.validateCluster(bad)
	c.validateSecurity(bad)
	return errors.Join(errs...)
}

// validateCluster checks [cluster]: a voter runs the cluster listener at
// the port its entry names, and only a voter runs one.
func (c *Config) validateCluster(bad func(key string, v any, format string, args ...any)) {
	cl := c.Cluster
	voters, err := ParseVoters(cl.Voters)
	if err != nil {
		bad("cluster.voters", cl.Voters, "%v", err)
		return
	}
	if cl.Listen != "" {
		if err := checkHostPort(cl.Listen); err != nil {
			bad("cluster.listen", cl.Listen, "%v", err)
			return
		}
	}
	self := -1
	for i, v := range voters {
		if v.ID == c.Broker.NodeID {
			self = i
		}
	}
	switch {
	case self < 0 && cl.Listen != "":
		bad("cluster.listen", cl.Listen, "only a voter runs the cluster listener, and broker.node_id %d is not in cluster.voters (%q)", c.Broker.NodeID, cl.Voters)
	case self >= 0 && cl.Listen == "":
		bad("cluster.listen", cl.Listen, "must be set: broker.node_id %d is a voter (cluster.voters has %d@%s)", c.Broker.NodeID, voters[self].ID, voters[self].Addr)
	case self >= 0:
		_, want, _ := net.SplitHostPort(voters[self].Addr)
		if _, port, _ := net.SplitHostPort(cl.Listen); port != want {
			bad("cluster.listen", cl.Listen, "port must be %s, the port of this node's entry %d@%s in cluster.voters", want, voters[self].ID, voters[self].Addr)
		}
	}
}

func checkHostPort(addr string) error { return auth.CheckHostPort(addr) }

func isWildcard(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || (ip != nil && ip.IsUnspecified())
}

// configField is one key of Config: its dotted name, its struct field (for
// the tags) and the settable value inside a Config.
type configField struct {
	key   string
	sf    reflect.StructField
	value reflect.Value
}

// fields lists every key of c in file order.
func (c *Config) fields() []configField {
	var out []configField
	root := reflect.ValueOf(c).Elem()
	for i := range root.NumField() {
		section := root.Type().Field(i).Tag.Get("toml")
		sv := root.Field(i)
		if section == "" { // not a section: explicit
			continue
		}
		for j := range sv.NumField() {
			sf := sv.Type().Field(j)
			out = append(out, configField{key: section + "." + sf.Tag.Get("toml"), sf: sf, value: sv.Field(j)})
		}
	}
	return out
}

func (c *Config) field(key string) (configField, bool) {
	for _, f := range c.fields() {
		if f.key == key {
			return f, true
		}
	}
	return configField{}, false
}

// check returns what is wrong with the field's value by its tags, or "".
func (f configField) check() string {
	if oneof, ok := f.sf.Tag.Lookup("oneof"); ok {
		allowed := strings.Fields(oneof)
		for _, a := range allowed {
			if f.value.String() == a {
				return ""
			}
		}
		return "must be one of " + strings.Join(allowed, ", ")
	}
	minS, hasMin := f.sf.Tag.Lookup("min")
	maxS, hasMax := f.sf.Tag.Lookup("max")
	if !hasMin || !hasMax {
		return ""
	}
	lo, errLo := strconv.ParseInt(minS, 10, 64)
	hi, errHi := strconv.ParseInt(maxS, 10, 64)
	if errLo != nil || errHi != nil {
		panic(fmt.Sprintf("config key %s: bad min/max tag", f.key))
	}
	if v := f.value.Int(); v < lo || v > hi {
		return fmt.Sprintf("must be from %d to %d", lo, hi)
	}
	return ""
}

// LogLevel is broker.log_level as a slog level (valid after Validate).
func (c *Config) LogLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.Broker.LogLevel)); err != nil {
		panic(fmt.Sprintf("unvalidated broker.log_level %q", c.Broker.LogLevel))
	}
	return l
}

// AdvertisedHost is the host clients are told to connect to: broker.advertised_host,
// or the host of broker.listen when that is empty (Validate refuses a wildcard there).
func (c *Config) AdvertisedHost() string {
	if c.Broker.AdvertisedHost != "" {
		return c.Broker.AdvertisedHost
	}
	host, _, _ := net.SplitHostPort(c.Broker.Listen)
	return host
}

// minMemoryLimitBytes is the smallest broker.memory_limit_bytes: below it
// the runtime and a few requests alone would keep the GC running.
const minMemoryLimitBytes = 16 << 20

// ShutdownTimeout is broker.shutdown_timeout_ms.
func (c *Config) ShutdownTimeout() time.Duration {
	return time.Duration(c.Broker.ShutdownTimeoutMs) * time.Millisecond
}

// Netio is the Kafka listener's netio.Config: broker.listen and [network],
// with network.max_connections lowered to its share of RLIMIT_NOFILE
// (descriptorShares).
func (c *Config) Netio(logger *slog.Logger) netio.Config {
	n := c.Network
	nofile := nofileLimit()
	files, conns := descriptorShares(nofile, c.Log.OpenFilesMax, n.MaxConnections)
	if logger != nil && (files < c.Log.OpenFilesMax || conns < n.MaxConnections) {
		logger.Warn("riffle: limits lowered to fit RLIMIT_NOFILE", "rlimit_nofile", nofile,
			"log.open_files_max", c.Log.OpenFilesMax, "segment_files_max", files,
			"network.max_connections", n.MaxConnections, "max_connections", conns)
	}
	return netio.Config{
		Addr:             c.Broker.Listen,
		EventLoops:       n.EventLoops,
		MaxRequestBytes:  n.MaxRequestBytes,
		MaxConnections:   conns,
		MaxInflightBytes: n.MaxInflightBytesPerConnection,
		// Pipelined requests beyond the one in flight: at most one more
		// of the largest size.
		MaxBufferedRequestBytes: int64(n.MaxRequestBytes) + 4,
		QueuedMaxRequestBytes:   n.QueuedMaxRequestBytes,
		RequestTimeout:          time.Duration(n.RequestTimeoutMs) * time.Millisecond,
		IdleTimeout:             time.Duration(n.IdleTimeoutMs) * time.Millisecond,
		CopyRegionBytesMax:      n.CopyRegionBytesMax,
		Logger:                  logger,
	}
}

// SegmentFilesMax is log.open_files_max lowered to its share of
// RLIMIT_NOFILE (descriptorShares): segment opens past it fail with
// segment.ErrOpenFilesLimit before the process runs out of descriptors.
func (c *Config) SegmentFilesMax() int {
	files, _ := descriptorShares(nofileLimit(), c.Log.OpenFilesMax, c.Network.MaxConnections)
	return files
}

// nofileLimit is the process's RLIMIT_NOFILE (soft), or no limit if it
// cannot be read.
func nofileLimit() uint64 {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return math.MaxUint64
	}
	return lim.Cur
}

const (
	// reservedDescriptors are kept for everything but client connections
	// and segment files: stdio, the admin listener and its clients, the
	// event loops' epoll and event fds, directory syncs, probe files.
	reservedDescriptors = 256
	// descriptorsPerConnection: gnet's socket and the writer's dup of it.
	descriptorsPerConnection = 2
)

// descriptorShares splits nofile descriptors so that neither segment files
// nor client connections can starve the other or the process: after
// reservedDescriptors, segment files get openFilesMax but at most half of
// what is left, connections the rest (descriptorsPerConnection each) but
// at most maxConnections. Each share is at least 1.
func descriptorShares(nofile uint64, openFilesMax, maxConnections int) (files, conns int) {
	left := int64(min(nofile, 1<<40)) - reservedDescriptors
	files = int(max(min(int64(openFilesMax), left/2), 1))
	conns = int(max(min(int64(maxConnections), (left-int64(files))/descriptorsPerConnection), 1))
	return files, conns
}

// WriteReadyFile tells a supervisor (tests, scripts) that the broker serves:
// it writes the bound addresses ("host:port"), one a line — the Kafka
// (inter-broker) listener first, then the admin listener if any, then the
// other Kafka listeners — to path atomically,
// through a temporary file in the same directory renamed over path, so a
// reader never sees a partial address.
func WriteReadyFile(path string, addrs ...string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ready-*")
	if err != nil {
		return fmt.Errorf("ready file: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	_, err = tmp.WriteString(strings.Join(addrs, "\n") + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("ready file %s: %w", path, err)
	}
	return nil
}

package daemon

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/riffle/riffle/quorum"
)

func TestDefaultConfigValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("embedded defaults invalid: %v", err)
	}
	if c.Broker.NodeID != 1 || c.Broker.Listen != "127.0.0.1:9092" || c.Broker.DataDir != "./data" {
		t.Errorf("broker defaults = %+v", c.Broker)
	}
	if c.Log.FlushMessages != math.MaxInt64 || c.Log.SegmentBytes != 1<<30 || !c.Log.CompressionValidation {
		t.Errorf("log defaults = %+v", c.Log)
	}
	if c.Fetch.FetchSessionsMax != 1000 || c.Network.MaxRequestBytes != 104857600 {
		t.Errorf("fetch/network defaults = %+v %+v", c.Fetch, c.Network)
	}
}

func TestRootConfigMatchesEmbedded(t *testing.T) {
	root, err := os.ReadFile("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	if string(root) != defaultTOML {
		t.Fatal("config.toml differs from daemon/default.toml: copy daemon/default.toml to config.toml")
	}
}

// TestEveryKeyDocumented checks that default.toml sets every key, that a
// comment precedes each, and that the comment states the range the tags enforce.
func TestEveryKeyDocumented(t *testing.T) {
	var c Config
	md, err := toml.Decode(defaultTOML, &c)
	if err != nil {
		t.Fatal(err)
	}
	comments := keyComments(t, defaultTOML)
	for _, f := range c.fields() {
		if !md.IsDefined(strings.Split(f.key, ".")...) {
			t.Errorf("%s: not set in default.toml", f.key)
			continue
		}
		doc := comments[f.key]
		if doc == "" {
			t.Errorf("%s: no comment above it in default.toml", f.key)
		}
		if lo, ok := f.sf.Tag.Lookup("min"); ok && !strings.Contains(doc, "Range "+lo+" to") {
			t.Errorf("%s: comment does not say %q", f.key, "Range "+lo+" to")
		}
	}
}

// keyComments maps "section.key" to the comment lines right above it.
func keyComments(t *testing.T, text string) map[string]string {
	out := map[string]string{}
	var section, comment string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#"):
			comment += line + "\n"
		case strings.HasPrefix(line, "["):
			section, comment = strings.Trim(line, "[]"), ""
		case strings.Contains(line, "="):
			key, _, _ := strings.Cut(line, "=")
			out[section+"."+strings.TrimSpace(key)] = strings.Join(strings.Fields(comment), " ")
			comment = ""
		default:
			comment = ""
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadConfigFileOverDefaults(t *testing.T) {
	path := writeFile(t, "[log]\nsegment_bytes = 1_048_576\n[topics]\nauto_create = false\n")
	c := DefaultConfig()
	if err := c.LoadConfigFile(path); err != nil {
		t.Fatal(err)
	}
	if c.Log.SegmentBytes != 1<<20 || c.Topics.AutoCreate {
		t.Errorf("file not applied: %+v %+v", c.Log, c.Topics)
	}
	if c.Log.RetentionMs != 604800000 || c.Broker.Listen != "127.0.0.1:9092" {
		t.Errorf("defaults lost: %+v", c)
	}
}

// TestReplicationConfig: the [replication] defaults, a file setting them,
// and replica_lag_time_max_ms as the default of the topic config
// replica.lag.time.max.ms, which a topic overrides.
func TestReplicationConfig(t *testing.T) {
	c := DefaultConfig()
	want := ReplicationConfig{ReplicaLagTimeMaxMs: 30000, ReplicaFetchWaitMaxMs: 500, ReplicaFetchMaxBytes: 1048576,
		ReplicaFetchResponseMaxBytes: 10485760, ReplicaFetchBackoffMs: 1000, ReplicaHWCheckpointIntervalMs: 5000}
	if c.Replication != want {
		t.Errorf("replication defaults = %+v, want %+v", c.Replication, want)
	}
	path := writeFile(t, "[replication]\nreplica_lag_time_max_ms = 10000\nreplica_fetch_wait_max_ms = 100\n"+
		"replica_fetch_max_bytes = 65536\nreplica_fetch_response_max_bytes = 131072\nreplica_fetch_backoff_ms = 50\n"+
		"replica_high_watermark_checkpoint_interval_ms = 1000\n")
	if err := c.LoadConfigFile(path); err != nil {
		t.Fatal(err)
	}
	want = ReplicationConfig{ReplicaLagTimeMaxMs: 10000, ReplicaFetchWaitMaxMs: 100, ReplicaFetchMaxBytes: 65536,
		ReplicaFetchResponseMaxBytes: 131072, ReplicaFetchBackoffMs: 50, ReplicaHWCheckpointIntervalMs: 1000}
	if err := c.Validate(); err != nil || c.Replication != want {
		t.Fatalf("file not applied: %+v, %v", c.Replication, err)
	}
	for _, tc := range []struct {
		overrides map[string]string
		value     string
		fromTopic bool
	}{
		{nil, "10000", false},
		{map[string]string{"replica.lag.time.max.ms": "2500"}, "2500", true},
	} {
		v, err := c.topicDefaults(nil).Effective(tc.overrides, "replica.lag.time.max.ms")
		if err != nil || v.Value != tc.value || (v.Source == quorum.SourceTopic) != tc.fromTopic {
			t.Errorf("replica.lag.time.max.ms with overrides %v: %+v, %v", tc.overrides, v, err)
		}
	}
}

func TestLoadConfigFileErrors(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"unknown key", "[log]\nsegmnt_bytes = 5\n", `config: unknown key "log.segmnt_bytes" in `},
		{"unknown section", "[logs]\nsegment_bytes = 5\n", `unknown key "logs.segment_bytes"`},
		{"wrong type", "[log]\nsegment_bytes = \"big\"\n", "log.segment_bytes"},
		{"overflow", "[topics]\ndefault_replication_factor = 40000\n", "default_replication_factor"},
		{"syntax", "[log\n", "config: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.text)
			c := DefaultConfig()
			err := c.LoadConfigFile(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want it to contain %q and %s", err, tc.want, path)
			}
		})
	}
	c := DefaultConfig()
	if err := c.LoadConfigFile(filepath.Join(t.TempDir(), "missing.toml")); err == nil {
		t.Fatal("missing file accepted")
	}
}

// TestValidateRanges moves every integer key one step outside its range and
// expects Validate to name the key, the value and the range.
func TestValidateRanges(t *testing.T) {
	for _, f := range (&Config{}).fields() {
		lo, hasLo := f.sf.Tag.Lookup("min")
		hi, _ := f.sf.Tag.Lookup("max")
		if !hasLo {
			continue
		}
		for _, bound := range []string{lo, hi} {
			n, _ := strconv.ParseInt(bound, 10, 64)
			step := int64(1)
			if bound == lo {
				step = -1
			}
			v := n + step
			if (step > 0 && v < n) || (step < 0 && v > n) || reflect.Zero(f.sf.Type).OverflowInt(v) {
				continue // the type cannot hold a value past this bound
			}
			c := DefaultConfig()
			if err := c.Set(f.key, strconv.FormatInt(v, 10)); err != nil {
				t.Fatal(err)
			}
			want := "config: " + f.key + " = " + strconv.FormatInt(v, 10) + ": must be from " + lo + " to " + hi
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s = %d: err = %v, want %q", f.key, v, err, want)
			}
		}
	}
}

func TestValidateRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  map[string]string
		want string // "" means valid
	}{
		{"log level", map[string]string{"broker.log_level": "verbose"}, `broker.log_level = "verbose": must be one of debug, info, warn, error`},
		{"timestamp type", map[string]string{"log.message_timestamp_type": "LogAppendTime"}, ""},
		{"cleanup compact", map[string]string{"log.cleanup_policy": "compact"}, ""},
		{"cleanup both", map[string]string{"log.cleanup_policy": "compact,delete"}, ""},
		{"cleanup bad", map[string]string{"log.cleanup_policy": "keep"}, `log.cleanup_policy = "keep": must be one of delete, compact, compact,delete, delete,compact`},
		{"dirty ratio", map[string]string{"log.min_cleanable_dirty_ratio": "1.5"}, "log.min_cleanable_dirty_ratio = 1.5: must be from 0 to 1"},
		{"cleaner rate", map[string]string{"log.cleaner_io_max_bytes_per_second": "0"}, "log.cleaner_io_max_bytes_per_second = 0: must be above 0"},
		{"cleaner buffer per thread", map[string]string{"log.cleaner_threads": "4", "log.cleaner_dedupe_buffer_size": "50000"}, "log.cleaner_dedupe_buffer_size = 50000: must be at least 24576 per cleaner thread"},
		{"listen no port", map[string]string{"broker.listen": "localhost"}, `broker.listen = "localhost": want host:port`},
		{"listen bad port", map[string]string{"broker.listen": "localhost:99999"}, `port "99999"`},
		{"wildcard needs advertised", map[string]string{"broker.listen": "0.0.0.0:9092"}, "broker.advertised_host = \"\": must be set"},
		{"wildcard with advertised", map[string]string{"broker.listen": ":9092", "broker.advertised_host": "kafka.example"}, ""},
		{"admin empty disables", map[string]string{"broker.admin_listen": ""}, ""},
		{"admin bad", map[string]string{"broker.admin_listen": "nope"}, "broker.admin_listen"},
		{"empty data dir", map[string]string{"broker.data_dir": ""}, "broker.data_dir"},
		{"partitions over max", map[string]string{"topics.default_partitions": "11", "topics.partitions_max": "10"}, "topics.default_partitions = 11: must be <= topics.partitions_max (10)"},
		{"batch over request", map[string]string{"log.max_message_bytes": "2048", "network.max_request_bytes": "2048"}, "log.max_message_bytes = 2048: must be < network.max_request_bytes (2048)"},
		{"request over budget", map[string]string{"network.queued_max_request_bytes": "1048576"}, "network.queued_max_request_bytes = 1048576: must be >= network.max_request_bytes (104857600)"},
		{"three voters", map[string]string{"cluster.voters": "1@127.0.0.1:9192,2@127.0.0.1:9292,3@127.0.0.1:9392", "cluster.listen": "127.0.0.1:9192"}, ""},
		{"voter listens on every address", map[string]string{"cluster.voters": "1@127.0.0.1:9192,2@127.0.0.1:9292,3@127.0.0.1:9392", "cluster.listen": ":9192"}, ""},
		{"broker only", map[string]string{"cluster.voters": "1@127.0.0.1:9192,2@127.0.0.1:9292,3@127.0.0.1:9392", "broker.node_id": "4"}, ""},
		{"voter without listen", map[string]string{"cluster.voters": "1@127.0.0.1:9192,2@127.0.0.1:9292,3@127.0.0.1:9392"}, `cluster.listen = "": must be set: broker.node_id 1 is a voter (cluster.voters has 1@127.0.0.1:9192)`},
		{"listen without voters", map[string]string{"cluster.listen": "127.0.0.1:9192"}, `cluster.listen = "127.0.0.1:9192": only a voter runs the cluster listener, and broker.node_id 1 is not in cluster.voters ("")`},
		{"listen not a voter", map[string]string{"cluster.voters": "1@127.0.0.1:9192,2@127.0.0.1:9292,3@127.0.0.1:9392", "cluster.listen": "127.0.0.1:9192", "broker.node_id": "7"}, "broker.node_id 7 is not in cluster.voters"},
		{"listen port differs", map[string]string{"cluster.voters": "1@127.0.0.1:9192,2@127.0.0.1:9292,3@127.0.0.1:9392", "cluster.listen": "127.0.0.1:9193"}, `cluster.listen = "127.0.0.1:9193": port must be 9192, the port of this node's entry 1@127.0.0.1:9192 in cluster.voters`},
		{"listen bad", map[string]string{"cluster.voters": "1@127.0.0.1:9192,2@127.0.0.1:9292,3@127.0.0.1:9392", "cluster.listen": "nope"}, `cluster.listen = "nope": want host:port`},
		{"duplicate id", map[string]string{"cluster.voters": "1@a:1,2@b:2,1@c:3", "cluster.listen": ":1"}, `cluster.voters = "1@a:1,2@b:2,1@c:3": node id 1 appears twice`},
		{"duplicate address", map[string]string{"cluster.voters": "1@a:1,2@a:1", "cluster.listen": ":1"}, "address a:1 appears twice (nodes 1 and 2)"},
		{"voter no at", map[string]string{"cluster.voters": "127.0.0.1:9192"}, `cluster.voters = "127.0.0.1:9192": entry "127.0.0.1:9192": want id@host:port`},
		{"voter bad id", map[string]string{"cluster.voters": "x@a:1"}, `node id "x" is not a number from 0 to 2147483647`},
		{"voter negative id", map[string]string{"cluster.voters": "-1@a:1"}, `node id "-1" is not a number`},
		{"voter id too large", map[string]string{"cluster.voters": "2147483648@a:1"}, `node id "2147483648" is not a number`},
		{"voter bad port", map[string]string{"cluster.voters": "1@a:99999"}, `entry "1@a:99999": port "99999"`},
		{"voter port 0", map[string]string{"cluster.voters": "1@a:0", "cluster.listen": ":0"}, "port 0: the other nodes must know the port"},
		{"replica fetch wait at the lag", map[string]string{"replication.replica_fetch_wait_max_ms": "30000"}, ""},
		{"replica fetch wait over the lag", map[string]string{"replication.replica_lag_time_max_ms": "400"},
			"replication.replica_fetch_wait_max_ms = 500: must be <= replication.replica_lag_time_max_ms (400)"},
		{"heartbeat below the session", map[string]string{"cluster.broker_session_timeout_ms": "3000", "cluster.broker_heartbeat_interval_ms": "2999"}, ""},
		{"heartbeat at the session", map[string]string{"cluster.broker_session_timeout_ms": "2000"},
			"cluster.broker_heartbeat_interval_ms = 2000: must be < cluster.broker_session_timeout_ms (2000)"},
		{"replica selector rack-aware", map[string]string{"replication.replica_selector": "rack-aware"}, ""},
		{"replica selector unknown", map[string]string{"replication.replica_selector": "closest"},
			`replication.replica_selector = "closest": must be "" (consumers read from the leader) or "rack-aware"`},
		{"rack", map[string]string{"broker.rack": "eu-west-1a"}, ""},
		{"rack too long", map[string]string{"broker.rack": strings.Repeat("r", 256)}, "broker.rack = \"rrrr"},
		{"no memory limit", map[string]string{"broker.memory_limit_bytes": "0"}, ""},
		{"memory limit too small", map[string]string{"broker.memory_limit_bytes": "1048576"}, "broker.memory_limit_bytes = 1048576: must be 0 or at least 16777216"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			for k, v := range tc.set {
				if err := c.Set(k, v); err != nil {
					t.Fatal(err)
				}
			}
			err := c.Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := DefaultConfig()
	c.Log.SegmentBytes = 1
	c.Fetch.MaxWaitMsMax = -5
	err := c.Validate()
	if err == nil || strings.Count(err.Error(), "\n") != 1 {
		t.Fatalf("want two problems on two lines, got %v", err)
	}
}

func TestSet(t *testing.T) {
	c := DefaultConfig()
	for k, v := range map[string]string{
		"broker.node_id":          "7",
		"log.sync_every_append":   "true",
		"broker.advertised_host":  "my host",
		"network.max_connections": "1_000",
	} {
		if err := c.Set(k, v); err != nil {
			t.Fatalf("Set(%s, %s): %v", k, v, err)
		}
	}
	if c.Broker.NodeID != 7 || !c.Log.SyncEveryAppend || c.Broker.AdvertisedHost != "my host" || c.Network.MaxConnections != 1000 {
		t.Errorf("Set not applied: %+v %+v", c.Broker, c.Network)
	}
	for _, tc := range []struct{ key, value, want string }{
		{"broker.nodeid", "1", `unknown key "broker.nodeid"`},
		{"broker", "1", `unknown key "broker"`},
		{"broker.node_id", "one", `broker.node_id: want an integer of 32 bits, got "one"`},
		{"topics.default_replication_factor", "40000", "want an integer of 16 bits"},
		{"topics.auto_create", "yes", "want true or false"},
	} {
		if err := c.Set(tc.key, tc.value); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Set(%s, %s) = %v, want %q", tc.key, tc.value, err, tc.want)
		}
	}
}

func TestDerivedSettings(t *testing.T) {
	c := DefaultConfig()
	if got := c.AdvertisedHost(); got != "127.0.0.1" {
		t.Errorf("AdvertisedHost = %q", got)
	}
	c.Broker.AdvertisedHost = "kafka.example"
	if got := c.AdvertisedHost(); got != "kafka.example" {
		t.Errorf("AdvertisedHost = %q", got)
	}
	c.Broker.LogLevel = "warn"
	if c.LogLevel().String() != "WARN" {
		t.Errorf("LogLevel = %v", c.LogLevel())
	}
	if c.ShutdownTimeout().Milliseconds() != c.Broker.ShutdownTimeoutMs {
		t.Errorf("ShutdownTimeout = %v", c.ShutdownTimeout())
	}
	c.Log.MessageTimestampType = "LogAppendTime"
	c.Log.SyncEveryAppend = true
	s, err := c.topicSegmentConfig(nil, map[string]string{"retention.ms": "1000"})
	if err != nil {
		t.Fatal(err)
	}
	if s.SegmentBytes != c.Log.SegmentBytes || s.IndexBytesMax != c.Log.SegmentIndexBytes || s.BatchBytesMax != c.Log.MaxMessageBytes ||
		!s.LogAppendTime || s.RetentionBytes != -1 || s.RetentionMs != 1000 || !s.SyncEveryAppend {
		t.Errorf("topicSegmentConfig = %+v", s)
	}
	if err := c.TopicDefaults().Validate(); err != nil {
		t.Errorf("TopicDefaults: %v", err)
	}
	n := c.Netio(nil)
	if n.Addr != c.Broker.Listen || n.MaxInflightBytes != c.Network.MaxInflightBytesPerConnection || n.IdleTimeout.Milliseconds() != c.Network.IdleTimeoutMs {
		t.Errorf("Netio() = %+v", n)
	}
}

func TestDescriptorShares(t *testing.T) {
	for _, tc := range []struct {
		nofile                     uint64
		openFilesMax, maxConns     int
		wantFiles, wantConnections int
	}{
		{1048576, 100000, 10000, 100000, 10000},
		{1048576, 100000, 1000000, 100000, (1048576 - 256 - 100000) / 2},
		{20000, 100000, 10000, (20000 - 256) / 2, (20000 - 256) / 4}, // files get half of what the reserve leaves
		{400, 64, 10000, 64, (400 - 256 - 64) / 2},
		{100, 64, 10000, 1, 1},
		{1 << 62, 100000, 1000000, 100000, 1000000},
	} {
		files, conns := descriptorShares(tc.nofile, tc.openFilesMax, tc.maxConns)
		if files != tc.wantFiles || conns != tc.wantConnections {
			t.Errorf("descriptorShares(%d, %d, %d) = %d files, %d connections, want %d, %d",
				tc.nofile, tc.openFilesMax, tc.maxConns, files, conns, tc.wantFiles, tc.wantConnections)
		}
	}
}

func TestWriteReadyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ready")
	for _, addr := range []string{"127.0.0.1:40001", "127.0.0.1:40002"} {
		if err := WriteReadyFile(path, addr); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != addr+"\n" {
			t.Fatalf("ready file = %q, %v; want %q", got, err, addr+"\n")
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if err := WriteReadyFile(filepath.Join(dir, "no", "such", "dir"), "x:1"); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestParseVoters(t *testing.T) {
	got, err := ParseVoters(" 1@127.0.0.1:9192, 2@[::1]:9292,3@node-3.example:9392 ")
	if err != nil {
		t.Fatal(err)
	}
	want := []Voter{{1, "127.0.0.1:9192"}, {2, "[::1]:9292"}, {3, "node-3.example:9392"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if got, err := ParseVoters(""); got != nil || err != nil {
		t.Fatalf("empty: %v %v", got, err)
	}
}

func TestListenerConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		set  map[string]string
		want string // "" valid
	}{
		{map[string]string{"broker.listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0", "security.ssl_cert_file": "c", "security.ssl_key_file": "k"}, ""},
		{map[string]string{"broker.listeners": "SSL://127.0.0.1:0"}, "security.ssl_cert_file"},
		{map[string]string{"broker.listeners": "SASL_PLAINTEXT://127.0.0.1:0", "security.sasl_enabled_mechanisms": ""}, "security.sasl_enabled_mechanisms"},
		{map[string]string{"security.sasl_enabled_mechanisms": "GSSAPI"}, "GSSAPI"},
		{map[string]string{"broker.listeners": "PLAINTEXT://:9092"}, "broker.advertised_listeners"},
		{map[string]string{"broker.listeners": "PLAINTEXT://:9092", "broker.advertised_listeners": "PLAINTEXT://kafka.example:9092"}, ""},
		{map[string]string{"broker.listeners": "PLAINTEXT://127.0.0.1:0", "broker.inter_broker_listener_name": "SSL"}, "broker.inter_broker_listener_name"},
		{map[string]string{"broker.advertised_listeners": "PLAINTEXT://h:1"}, "broker.listeners"},
		// A cluster's inter-broker listener may be TLS; SASL needs this
		// node's credentials and a mechanism the listeners offer.
		{map[string]string{"broker.listeners": "SSL://127.0.0.1:19092,PLAINTEXT://127.0.0.1:0", "security.ssl_cert_file": "c", "security.ssl_key_file": "k",
			"cluster.voters": "1@127.0.0.1:19093", "cluster.listen": "127.0.0.1:19093"}, ""},
		{map[string]string{"broker.listeners": "SASL_SSL://127.0.0.1:19092", "security.ssl_cert_file": "c", "security.ssl_key_file": "k",
			"cluster.voters": "1@127.0.0.1:19093", "cluster.listen": "127.0.0.1:19093"}, "security.inter_broker_username = \"\": must be set"},
		{map[string]string{"broker.listeners": "SASL_SSL://127.0.0.1:19092", "security.ssl_cert_file": "c", "security.ssl_key_file": "k",
			"cluster.voters": "1@127.0.0.1:19093", "cluster.listen": "127.0.0.1:19093",
			"security.inter_broker_username": "broker", "security.inter_broker_password_file": "p"}, "security.sasl_mechanism_inter_broker_protocol = \"PLAIN\": must be one of"},
		{map[string]string{"broker.listeners": "SASL_PLAINTEXT://127.0.0.1:19092", "security.sasl_enabled_mechanisms": "SCRAM-SHA-512,PLAIN",
			"cluster.voters": "1@127.0.0.1:19093", "cluster.listen": "127.0.0.1:19093",
			"security.inter_broker_username": "broker", "security.inter_broker_password_file": "p"}, ""},
		{map[string]string{"broker.listeners": "SASL_PLAINTEXT://127.0.0.1:19092", "security.sasl_enabled_mechanisms": "SCRAM-SHA-512",
			"security.sasl_mechanism_inter_broker_protocol": "SCRAM-SHA-512",
			"cluster.voters": "1@127.0.0.1:19093", "cluster.listen": "127.0.0.1:19093",
			"security.inter_broker_username": "broker", "security.inter_broker_password_file": "p"}, ""},
		{map[string]string{"security.sasl_mechanism_inter_broker_protocol": "GSSAPI"}, "security.sasl_mechanism_inter_broker_protocol"},
		{map[string]string{"security.inter_broker_username": "broker"}, "security.inter_broker_password_file together"},
		// A single node needs no inter-broker credentials.
		{map[string]string{"broker.listeners": "SASL_PLAINTEXT://127.0.0.1:19092"}, ""},
		{map[string]string{"cluster.tls": "true", "security.ssl_cert_file": "c", "security.ssl_key_file": "k"}, "cluster.tls = true: needs"},
		{map[string]string{"cluster.tls": "true", "security.ssl_cert_file": "c", "security.ssl_key_file": "k", "security.ssl_ca_file": "ca"}, ""},
		{map[string]string{"broker.listeners": "SSL://127.0.0.1:0", "security.ssl_cert_file": "c", "security.ssl_key_file": "k", "security.ssl_client_auth": "required"}, "security.ssl_ca_file"},
	} {
		c := DefaultConfig()
		for k, v := range tc.set {
			if err := c.Set(k, v); err != nil {
				t.Fatal(err)
			}
		}
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.set, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: %v, want an error naming %q", tc.set, err, tc.want)
		}
	}
}

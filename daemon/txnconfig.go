package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/VictoriaMetrics/metrics"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon/txn"
	"github.com/riffle/riffle/quorum"
)

// TransactionsConfig is the [transactions] section: the transaction
// coordinator and __transaction_state.
type TransactionsConfig struct {
	StateTopicPartitions        int32 `toml:"state_topic_partitions" min:"1" max:"1000"`
	StateTopicReplicationFactor int16 `toml:"state_topic_replication_factor" min:"1" max:"32767"`
	TransactionMaxTimeoutMs     int32 `toml:"transaction_max_timeout_ms" min:"1" max:"2147483647"`
	TransactionalIDExpirationMs int64 `toml:"transactional_id_expiration_ms" min:"1" max:"2147483647"`
}

// txnOptions is what the transaction coordinator needs of the
// configuration. Its replication factor is capped at the voters as
// __consumer_offsets' is.
func txnOptions(cfg Config, ctrl quorum.Metadata, parts txn.Partitions, send txn.Sender, log *slog.Logger) txn.Options {
	t := cfg.Transactions
	return txn.Options{
		NodeID: cfg.Broker.NodeID,
		Config: txn.Config{
			TransactionMaxTimeoutMs:     t.TransactionMaxTimeoutMs,
			TransactionalIDExpirationMs: t.TransactionalIDExpirationMs,
		},
		TopicPartitions:        t.StateTopicPartitions,
		TopicReplicationFactor: int16(min(int(t.StateTopicReplicationFactor), max(len(cfg.Voters()), 1))),
		Controller:             ctrl,
		Partitions:             parts,
		Send:                   send,
		Logger:                 log,
	}
}

// writeTxnMetrics writes the transaction coordinator's gauges and
// counters: transactions not yet complete among the ids this broker
// coordinates, and the transactions it completed by commit or abort.
func (b *broker) writeTxnMetrics(w io.Writer) {
	ongoing, counts := b.txns.Ongoing()
	metrics.WriteGaugeUint64(w, "riffle_txn_ongoing", uint64(ongoing))
	metrics.WriteCounterUint64(w, "riffle_txn_commits_total", uint64(counts.Committed))
	metrics.WriteCounterUint64(w, "riffle_txn_aborts_total", uint64(counts.Aborted))
}

// markerClient sends the coordinator's requests to other brokers
// (WriteTxnMarkers to partition leaders, verifications to coordinators)
// through a Kafka client of this broker's own listener, which learns the
// other brokers from its metadata. It is made on first use.
type markerClient struct {
	seed string
	opts []kgo.Opt // how to reach the inter-broker listener (TLS, SASL)

	once   sync.Once
	client *kgo.Client
	err    error
}

func newMarkerClient(host string, port int32, opts []kgo.Opt) *markerClient {
	return &markerClient{seed: net.JoinHostPort(host, strconv.Itoa(int(port))), opts: opts}
}

func (m *markerClient) send(ctx context.Context, broker int32, req kmsg.Request) (kmsg.Response, error) {
	m.once.Do(func() {
		m.client, m.err = kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(m.seed), kgo.ClientID("riffle-txn-markers")}, m.opts...)...)
	})
	if m.err != nil {
		return nil, fmt.Errorf("marker client: %w", m.err)
	}
	resp, err := m.client.Broker(int(broker)).Request(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%s to broker %d: %w", kmsg.NameForKey(req.Key()), broker, err)
	}
	return resp, nil
}

func (m *markerClient) close() {
	if m.client != nil {
		m.client.Close()
	}
}

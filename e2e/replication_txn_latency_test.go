package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/internal/brokertest"
)

// TestClusterTransactionsAddWithoutRetries: on a healthy three-node
// cluster a KIP-890 part 2 producer (franz-go) writing each transaction to
// three partitions led by different brokers has its partitions added by
// their leaders concurrently; the coordinator takes them in turn, so no
// produce is answered with a retriable error (each such retry cost the
// producer a backoff or a 5 s verification timeout: transactions took
// 5-10 s each).
func TestClusterTransactionsAddWithoutRetries(t *testing.T) {
	c := brokertest.StartCluster(t, 3)
	cl := newClusterClient(t, c.Addrs())
	const topic = "txn-adds"
	createReplicatedTopic(t, cl, topic, 3, 3, map[string]string{"min.insync.replicas": "2"})
	p := newClusterClient(t, c.Addrs(), kgo.TransactionalID("txn-adds"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i := range 8 {
		start := time.Now()
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for part := range int32(3) {
			p.Produce(ctx, &kgo.Record{Topic: topic, Partition: part, Value: fmt.Appendf(nil, "%d-%d", i, part)}, nil)
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
		t.Logf("transaction %d took %v", i, time.Since(start).Round(time.Millisecond))
	}
	for _, n := range c.Nodes() {
		for series, v := range scrape(t, n.AdminAddr()) {
			if strings.HasPrefix(series, `riffle_kafka_request_errors_total{api="Produce"`) && v > 0 {
				t.Errorf("broker %s: %s = %v", n.Addr(), series, v)
			}
		}
	}
}

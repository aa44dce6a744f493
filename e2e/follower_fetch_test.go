package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/internal/brokertest"
)

// batchSources counts, per broker, the record batches a client read
// (kgo's HookFetchBatchRead names the broker that answered).
type batchSources struct {
	mu     sync.Mutex
	byNode map[int32]int
}

func (h *batchSources) OnFetchBatchRead(meta kgo.BrokerMetadata, _ string, _ int32, _ kgo.FetchBatchMetrics) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.byNode[meta.NodeID]++
}

func (h *batchSources) counts() map[int32]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[int32]int, len(h.byNode))
	for id, n := range h.byNode {
		out[id] = n
	}
	return out
}

// TestConsumerFetchesFromItsRack (KIP-392): three brokers in three racks
// with replication.replica_selector = "rack-aware". A franz-go consumer
// with client.rack naming a follower's rack is sent there by the leader
// and reads every record from that follower; one in the leader's rack
// reads from the leader.
func TestConsumerFetchesFromItsRack(t *testing.T) {
	c := brokertest.StartClusterNodeArgs(t, 3, func(id int32) []string {
		return []string{"--set", "replication.replica_fetch_backoff_ms=100",
			"--set", "replication.replica_selector=rack-aware", "--set", fmt.Sprintf("broker.rack=rack-%d", id)}
	})
	const topic, n = "racked", 300
	createReplicatedTopic(t, newClient(t, c.Addrs()[0]), topic, 1, 3, nil)
	// acks=all with all three in the ISR: the leader has seen every
	// follower's LEO.
	produceRange(t, c.Addrs(), topic, 0, n)
	leader := partitionLeader(t, c.Addrs()[0], topic, -1)
	near := leader%3 + 1
	for _, tc := range []struct {
		name string
		node int32
	}{{"a follower's rack", near}, {"the leader's rack", leader}} {
		hook := &batchSources{byNode: map[int32]int{}}
		cl := newClient(t, c.Addrs()[0], kgo.SeedBrokers(c.Addrs()...), kgo.Rack(fmt.Sprintf("rack-%d", tc.node)),
			kgo.WithHooks(hook), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
		ctx, cancel := context.WithTimeout(context.Background(), replicationWait)
		for next := int64(0); next < n; {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				cancel()
				t.Fatalf("%s: consumed %d of %d records: %v", tc.name, next, n, err)
			}
			for _, e := range fs.Errors() {
				t.Logf("%s: fetch error (retried): %v", tc.name, e.Err)
			}
			for _, r := range fs.Records() {
				if r.Offset != next {
					cancel()
					t.Fatalf("%s: offset %d, want %d", tc.name, r.Offset, next)
				}
				next++
			}
		}
		cancel()
		cl.Close()
		if got := hook.counts(); len(got) != 1 || got[tc.node] == 0 {
			t.Fatalf("%s: batches read by broker %v, want all from broker %d (leader %d)", tc.name, got, tc.node, leader)
		}
	}
}

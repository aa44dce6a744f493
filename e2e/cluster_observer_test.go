package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon"
	"github.com/riffle/riffle/internal/brokertest"
)

// TestClusterBrokerOnly runs three voters and node 4, a broker only (not
// in cluster.voters, no cluster listener): every node lists all four
// brokers and the same controller; a client that knows only node 4
// creates a topic, whose replicas are placed on node 4 too and some led
// by it, and produces and consumes through it; the quorum lists node 4 as
// an observer; after kill -9 of the active controller node 4 names the
// new one and its client creates, produces and consumes again; restarted,
// node 4 comes back with the topics.
func TestClusterBrokerOnly(t *testing.T) {
	c := brokertest.StartClusterWithBrokers(t, 3, 1, func(int32) []string { return nil })
	all, voters := []int32{1, 2, 3, 4}, []int32{1, 2, 3}
	addrs := c.Addrs()
	views := waitViews(t, addrs, "four brokers and one controller on every node", agreedController(all, voters))
	controller := views[0].controller
	t.Logf("controller %d, brokers %v", controller, views[0].brokers)

	onD := newClient(t, addrs[3], kgo.RetryTimeout(clusterWait))
	createReplicated(t, onD, "via-4", 8)
	meta := waitTopicLed(t, addrs[3], "via-4", 8)
	var hosted, led int
	for _, p := range meta.Partitions {
		if slices.Contains(p.Replicas, 4) {
			hosted++
		}
		if p.Leader == 4 {
			led++
		}
	}
	t.Logf("node 4 holds %d of 8 partitions' replicas and leads %d", hosted, led)
	if hosted == 0 || led == 0 {
		t.Fatalf("placement left out the broker-only node: %+v", meta.Partitions)
	}
	produceConsume(t, onD, addrs[3], "via-4", 200)

	// The quorum as DescribeQuorum (through riffle cluster describe, asked
	// of node 4) shows it: node 4 an observer, a broker.
	var desc struct {
		Quorum struct {
			LeaderID  int32 `json:"leader_id"`
			Voters    []struct{ ID int32 }
			Observers []struct {
				ID     int32 `json:"id"`
				LogEnd int64 `json:"log_end"`
			} `json:"observers"`
		} `json:"quorum"`
		Brokers []struct {
			ID   int32  `json:"id"`
			Role string `json:"role"`
		} `json:"brokers"`
	}
	out := ok(t, addrs[3], "", "cluster", "describe", "--json")
	if err := json.Unmarshal([]byte(out), &desc); err != nil {
		t.Fatalf("cluster describe --json: %v\n%s", err, out)
	}
	q := desc.Quorum
	if q.LeaderID != controller || len(q.Voters) != 3 || len(q.Observers) != 1 || q.Observers[0].ID != 4 || q.Observers[0].LogEnd <= 0 ||
		len(desc.Brokers) != 4 || desc.Brokers[3].ID != 4 || desc.Brokers[3].Role != "broker" {
		t.Fatalf("cluster describe through node 4: %s", out)
	}

	killed := time.Now()
	c.Node(controller).Kill()
	survivors := liveAddrs(c, controller)
	views = waitViews(t, survivors, "a new controller on the survivors, node 4 included", func(vs []clusterView) bool {
		for _, v := range vs {
			if v.controller < 0 || v.controller == controller || v.controller != vs[0].controller {
				return false
			}
		}
		return true
	})
	t.Logf("killed controller %d: node 4 names controller %d after %v", controller, views[0].controller, time.Since(killed).Round(time.Millisecond))
	createReplicated(t, onD, "after-kill", 4)
	waitTopicLed(t, addrs[3], "after-kill", 4)
	produceConsume(t, onD, addrs[3], "after-kill", 100)

	// Restarted after topics were created without it, node 4 is ready
	// only once it has them.
	c.Node(4).Stop()
	onA := newClient(t, survivors[0], kgo.RetryTimeout(clusterWait))
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
		err := createOne(ctx, onA, fmt.Sprint("while-down-", i))
		cancel()
		if err != nil {
			t.Fatalf("create while node 4 is down: %v", err)
		}
	}
	c.Node(4).Restart()
	v, err := viewOf(context.Background(), addrs[3])
	if err != nil || !v.topics["via-4"] || !v.topics["after-kill"] || !v.topics["while-down-19"] {
		t.Fatalf("node 4 ready before catching up: %+v, %v", v, err)
	}

	// Its data directory is refused, as a voter's is, without the voter
	// list and by another cluster.
	c.Node(4).Stop()
	c.KillAll()
	bin, dir := brokertest.Binary(t), c.Node(4).DataDir()
	args := []string{"--node-id", "4", "--data-dir", dir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}
	refused := func(r startupRun, want string) {
		t.Helper()
		if r.ready || r.code != daemon.ExitDataDir || !strings.Contains(r.stderr, want) {
			t.Fatalf("ready %v, exit %d; want exit %d and %q\nstderr:\n%s", r.ready, r.code, daemon.ExitDataDir, want, r.stderr)
		}
		t.Logf("refused: %s", r.stderr[strings.LastIndex(r.stderr, "riffle: cannot start"):])
	}
	refused(runBroker(t, bin, nil, args...), "start this node with its cluster's cluster.voters")
	other := brokertest.StartCluster(t, 3)
	refused(runBroker(t, bin, nil, append(args, "--set", "cluster.voters="+other.Voters())...), "belongs to another cluster")
}

// createReplicated creates topic (partitions, replication factor 3)
// through cl, retrying while the cluster has no controller.
func createReplicated(t *testing.T, cl *kgo.Client, topic string, partitions int32) {
	t.Helper()
	var lastErr error
	waitFor(t, clusterWait, "topic "+topic+" created", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		lastErr = createWith(ctx, cl, topic, partitions, 3)
		return lastErr == nil || lastErr == kerr.TopicAlreadyExists
	})
	if lastErr != nil && lastErr != kerr.TopicAlreadyExists {
		t.Fatalf("create %s: %v", topic, lastErr)
	}
}

// waitTopicLed waits until addr's Metadata shows topic with n partitions,
// each led by a replica, and returns it.
func waitTopicLed(t *testing.T, addr, topic string, n int) kmsg.MetadataResponseTopic {
	t.Helper()
	var got kmsg.MetadataResponseTopic
	waitFor(t, clusterWait, fmt.Sprintf("%s with %d led partitions on %s", topic, n, addr), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m, err := nodeMetadata(ctx, addr)
		if err != nil {
			return false
		}
		for _, mt := range m.Topics {
			if mt.Topic == nil || *mt.Topic != topic || len(mt.Partitions) != n {
				continue
			}
			for _, p := range mt.Partitions {
				if p.Leader < 0 || !slices.Contains(p.Replicas, p.Leader) {
					return false
				}
			}
			got = mt
			return true
		}
		return false
	})
	return got
}

// produceConsume produces n records to topic through cl (acks=all, its
// default) and reads them all back with a fresh client seeded at addr.
func produceConsume(t *testing.T, cl *kgo.Client, addr, topic string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "%s-%d", topic, i)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s through %s: %v", topic, addr, err)
	}
	consumer := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	for len(seen) < n {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records of %s through %s", len(seen), n, topic, addr)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch %s: %v", topic, err) })
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	for i := range n {
		if v := fmt.Sprintf("%s-%d", topic, i); !seen[v] {
			t.Fatalf("record %s not consumed", v)
		}
	}
}

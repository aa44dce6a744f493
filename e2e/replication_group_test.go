package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
)

// groupFailoverWait bounds a coordinator move after kill -9: fencing of the
// dead broker (9 s session), the election of new leaders for its
// __consumer_offsets partitions and their load, on a loaded machine.
const groupFailoverWait = 90 * time.Second

// TestGroupSurvivesCoordinatorKill: on a three-node cluster
// __consumer_offsets has three replicas; a group's committed offsets
// survive kill -9 of its coordinator (the new coordinator serves them),
// and the group goes on consuming and committing to the end.
func TestGroupSurvivesCoordinatorKill(t *testing.T) {
	c := brokertest.StartCluster(t, 3)
	cl := newClusterClient(t, c.Addrs())
	const topic, group, records = "orders", "billing", 300
	createReplicatedTopic(t, cl, topic, 3, 3, map[string]string{"min.insync.replicas": "2"})
	var batch []*kgo.Record
	for i := range records {
		batch = append(batch, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprint("order-", i))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	waitOffsetsTopicReplicas(t, cl, 3)

	consumer := newClusterClient(t, c.Addrs(), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.FetchMaxWait(500*time.Millisecond))
	seen := consumeAndCommit(t, consumer, records/2, nil)

	adm := kadm.NewClient(cl)
	before := committedTotal(t, adm, group)
	if before < int64(records/2) {
		t.Fatalf("committed %d before the kill, want at least %d", before, records/2)
	}
	coord := findCoordinator(t, cl, group)
	c.Node(coord).Kill()
	t.Logf("killed coordinator %d with %d records committed", coord, before)

	var survivors []string
	for _, b := range c.Nodes() {
		if b != c.Node(coord) {
			survivors = append(survivors, b.Addr())
		}
	}
	// A fresh client per try: the check is of the brokers' answers, not of
	// how long a client caches a dead coordinator.
	deadline := time.Now().Add(groupFailoverWait)
	for {
		probe, err := kgo.NewClient(kgo.SeedBrokers(survivors...))
		if err != nil {
			t.Fatal(err)
		}
		got, err := tryCommittedTotal(kadm.NewClient(probe), group)
		probe.Close()
		if err == nil && got == before {
			break
		}
		if err == nil && got != before {
			t.Fatalf("the new coordinator serves %d committed records, %d were committed before the kill", got, before)
		}
		if time.Now().After(deadline) {
			m, merr := nodeMetadata(context.Background(), survivors[0])
			t.Logf("survivor metadata: %v %s", merr, describeMetadata(m))
			t.Fatalf("no coordinator served group %s's offsets %v after killing %d (coordinator now %d): %v",
				group, groupFailoverWait, coord, findCoordinator(t, newClusterClient(t, survivors), group), err)
		}
		time.Sleep(200 * time.Millisecond) // a poll interval, not a wait for an event
	}

	consumeAndCommit(t, consumer, records, seen)
	if got := committedTotal(t, kadm.NewClient(newClusterClient(t, survivors)), group); got != records {
		t.Fatalf("committed %d records in the end, want %d", got, records)
	}
}

// newClusterClient is a franz-go client seeded with every address.
func newClusterClient(t *testing.T, addrs []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...), kgo.RetryTimeout(groupFailoverWait)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createReplicatedTopic creates topic with rf replicas per partition,
// retrying while the cluster has fewer live brokers than rf (brokers
// register a moment after the quorum forms).
func createReplicatedTopic(t *testing.T, cl *kgo.Client, topic string, partitions int32, rf int16, configs map[string]string) {
	t.Helper()
	adm := kadm.NewClient(cl)
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = kmsg.StringPtr(v)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		resp, err := adm.CreateTopic(ctx, partitions, rf, cfg, topic)
		cancel()
		if err == nil && resp.Err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("create topic %s with %d replicas: %v / %v", topic, rf, err, resp.Err)
		}
		time.Sleep(250 * time.Millisecond) // a poll interval, not a wait for an event
	}
}

// waitOffsetsTopicReplicas waits until every __consumer_offsets partition
// lists rf replicas.
func waitOffsetsTopicReplicas(t *testing.T, cl *kgo.Client, rf int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("__consumer_offsets")
		req.Topics = append(req.Topics, rt)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := req.RequestWith(ctx, cl)
		cancel()
		if err == nil && len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) > 0 &&
			!slices.ContainsFunc(resp.Topics[0].Partitions, func(p kmsg.MetadataResponseTopicPartition) bool { return len(p.Replicas) != rf }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("__consumer_offsets without %d replicas per partition after 60s: %v %+v", rf, err, resp)
		}
		time.Sleep(250 * time.Millisecond) // a poll interval, not a wait for an event
	}
}

// consumeAndCommit polls until want distinct records were seen in total,
// committing after each poll; commits may fail while the coordinator
// moves, but the last one must succeed.
func consumeAndCommit(t *testing.T, cl *kgo.Client, want int, seen map[string]bool) map[string]bool {
	t.Helper()
	if seen == nil {
		seen = map[string]bool{}
	}
	deadline := time.Now().Add(groupFailoverWait)
	var commitErr error
	for len(seen) < want || commitErr != nil {
		if time.Now().After(deadline) {
			t.Fatalf("consumed %d of %d records; last commit error %v", len(seen), want, commitErr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
		commitErr = cl.CommitUncommittedOffsets(ctx)
		cancel()
	}
	return seen
}

func tryCommittedTotal(adm *kadm.Client, group string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return 0, err
	}
	var total int64
	resp.Each(func(o kadm.OffsetResponse) { total += o.At })
	return total, nil
}

func committedTotal(t *testing.T, adm *kadm.Client, group string) int64 {
	t.Helper()
	total, err := tryCommittedTotal(adm, group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	return total
}

// findCoordinator is the node id coordinating group.
func findCoordinator(t *testing.T, cl *kgo.Client, group string) int32 {
	t.Helper()
	return findCoordinatorOfType(t, cl, 0, group)
}

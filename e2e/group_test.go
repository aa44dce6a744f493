package e2e

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
)

// groupBrokerArgs make new groups form without Kafka's 3 s initial delay.
var groupBrokerArgs = []string{"--set", "groups.initial_rebalance_delay_ms=100"}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // a poll interval, not a wait for an event
	}
}

// consumedSet records which (partition, offset) pairs a group consumed.
type consumedSet struct {
	mu   sync.Mutex
	seen map[[2]int64]int // -> times consumed
}

func newConsumedSet() *consumedSet { return &consumedSet{seen: map[[2]int64]int{}} }

func (s *consumedSet) add(r *kgo.Record) {
	s.mu.Lock()
	s.seen[[2]int64{int64(r.Partition), r.Offset}]++
	s.mu.Unlock()
}

// missing counts the produced records not consumed yet.
func (s *consumedSet) missing(produced [][2]int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range produced {
		if s.seen[p] == 0 {
			n++
		}
	}
	return n
}

// killableDialer lets a test cut a client off the network at once, as a
// crashed process would be: its connections close and new ones fail, so it
// never sends LeaveGroup.
type killableDialer struct {
	mu     sync.Mutex
	conns  []net.Conn
	killed bool
}

func (d *killableDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.killed {
		return nil, fmt.Errorf("dial %s: client killed", host)
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *killableDialer) kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.killed = true
	for _, c := range d.conns {
		c.Close()
	}
}

// groupMember is one franz-go consumer in a group, polling until closed.
type groupMember struct {
	cl     *kgo.Client
	dialer *killableDialer
	done   chan struct{}
}

func startMember(t *testing.T, addr, group, topic string, seen *consumedSet) *groupMember {
	t.Helper()
	m := &groupMember{dialer: &killableDialer{}, done: make(chan struct{})}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.Dialer(m.dialer.dial),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.RebalanceTimeout(10*time.Second),
		kgo.AutoCommitInterval(300*time.Millisecond),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
	)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	go func() {
		defer close(m.done)
		for {
			fetches := cl.PollFetches(context.Background())
			if fetches.IsClientClosed() {
				return
			}
			fetches.EachRecord(seen.add)
		}
	}()
	t.Cleanup(m.kill)
	return m
}

// leave commits what was consumed and leaves the group.
func (m *groupMember) leave(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Errorf("commit before leaving: %v", err)
	}
	m.cl.Close()
	<-m.done
}

// kill cuts the member off without a LeaveGroup.
func (m *groupMember) kill() {
	m.dialer.kill()
	m.cl.Close()
	<-m.done
}

// produceRecords produces n records spread over the topic's partitions
// and returns where they were written.
func produceRecords(t *testing.T, cl *kgo.Client, topic string, n int) [][2]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Value: []byte(fmt.Sprint(i))}
	}
	results := cl.ProduceSync(ctx, recs...)
	if err := results.FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	out := make([][2]int64, len(results))
	for i, r := range results {
		out[i] = [2]int64{int64(r.Record.Partition), r.Record.Offset}
	}
	return out
}

// committedOffsets reads the group's committed offsets with OffsetFetch.
func committedOffsets(t *testing.T, cl *kgo.Client, group string) map[int32]int64 {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	if resp.ErrorCode != 0 {
		t.Fatalf("offset fetch: error %d", resp.ErrorCode)
	}
	out := map[int32]int64{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			out[p.Partition] = p.Offset
		}
	}
	return out
}

// TestFranzGoGroupMembersComeAndGo runs a cooperative-sticky group of
// franz-go consumers over 12 partitions while members join, leave cleanly
// and are killed; every record is consumed at least once. Then broker and
// consumers restart and resume from the committed offsets.
func TestFranzGoGroupMembersComeAndGo(t *testing.T) {
	b := brokertest.Start(t, groupBrokerArgs...)
	const topic, group, partitions = "group-topic", "group-come-and-go", 12
	producer := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	createTopic(t, producer, topic, partitions)
	seen := newConsumedSet()
	var produced [][2]int64
	phase := func(what string) {
		t.Helper()
		produced = append(produced, produceRecords(t, producer, topic, 1200)...)
		start := time.Now()
		waitFor(t, 60*time.Second, what+": every produced record consumed", func() bool { return seen.missing(produced) == 0 })
		t.Logf("%s: all consumed after %v", what, time.Since(start))
	}

	a := startMember(t, b.Addr(), group, topic, seen)
	bm := startMember(t, b.Addr(), group, topic, seen)
	phase("two members")
	c := startMember(t, b.Addr(), group, topic, seen)
	phase("third member joined")
	bm.leave(t)
	phase("second member left")
	c.kill()
	phase("third member killed")
	d := startMember(t, b.Addr(), group, topic, seen)
	phase("fourth member joined")

	a.leave(t)
	d.leave(t)
	committed := committedOffsets(t, producer, group)
	ends := endOffsets(t, b.Addr(), topic)
	for p := int32(0); p < partitions; p++ {
		if committed[p] != ends[p] {
			t.Fatalf("partition %d: committed %d, end %d (committed %v)", p, committed[p], ends[p], committed)
		}
	}

	b.Restart()
	after := newConsumedSet()
	startMember(t, b.Addr(), group, topic, after)
	startMember(t, b.Addr(), group, topic, after)
	fresh := produceRecords(t, producer, topic, 1200)
	waitFor(t, 60*time.Second, "after restart: every new record consumed", func() bool { return after.missing(fresh) == 0 })
	after.mu.Lock()
	defer after.mu.Unlock()
	for po := range after.seen {
		if po[1] < committed[int32(po[0])] {
			t.Fatalf("after restart partition %d offset %d was consumed again below the committed offset %d", po[0], po[1], committed[int32(po[0])])
		}
	}
}

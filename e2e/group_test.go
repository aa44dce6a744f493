package e2e

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
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
	where, err := produceAcked(ctx, cl, topic, n)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	return where
}

// produceAcked produces n records and returns where the acknowledged ones
// were written, and the first error.
func produceAcked(ctx context.Context, cl *kgo.Client, topic string, n int) ([][2]int64, error) {
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Value: []byte(fmt.Sprint(i))}
	}
	var out [][2]int64
	results := cl.ProduceSync(ctx, recs...)
	for _, r := range results {
		if r.Err == nil {
			out = append(out, [2]int64{int64(r.Record.Partition), r.Record.Offset})
		}
	}
	return out, results.FirstErr()
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

// TestGroupBadInput sends group requests Kafka answers with error codes;
// the broker answers them the same way and keeps serving.
func TestGroupBadInput(t *testing.T) {
	b := brokertest.Start(t, groupBrokerArgs...)
	cl := newClient(t, b.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	join := func(group, member, protocolType string, metadata []byte) *kmsg.JoinGroupResponse {
		t.Helper()
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.MemberID, req.ProtocolType = group, member, protocolType
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 6000, 10000
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: metadata}}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("join %q: %v", group, err)
		}
		return resp
	}
	sync := func(group, member string, generation int32) int16 {
		t.Helper()
		req := kmsg.NewPtrSyncGroupRequest()
		req.Group, req.MemberID, req.Generation = group, member, generation
		req.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: member, MemberAssignment: []byte{}}}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("sync %q: %v", group, err)
		}
		return resp.ErrorCode
	}
	heartbeat := func(member string, generation int32) int16 {
		t.Helper()
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group, req.MemberID, req.Generation = "bad", member, generation
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		return resp.ErrorCode
	}
	expect := func(what string, got int16, want *kerr.Error) {
		t.Helper()
		wantCode := int16(0)
		if want != nil {
			wantCode = want.Code
		}
		if got != wantCode {
			t.Errorf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
		}
	}
	first := join("bad", "", "consumer", []byte("m"))
	expect("first join", first.ErrorCode, kerr.MemberIDRequired)
	joined := join("bad", first.MemberID, "consumer", []byte("m"))
	expect("join with member id", joined.ErrorCode, nil)
	expect("leader sync", sync("bad", joined.MemberID, joined.Generation), nil)

	expect("unknown protocol type", join("bad", "", "connect", []byte("m")).ErrorCode, kerr.InconsistentGroupProtocol)
	expect("stale generation", heartbeat(joined.MemberID, joined.Generation-1), kerr.IllegalGeneration)
	expect("unknown member", heartbeat("nobody", joined.Generation), kerr.UnknownMemberID)
	expect("empty group id", join("", "", "consumer", []byte("m")).ErrorCode, kerr.InvalidGroupID)
	expect("healthy heartbeat", heartbeat(joined.MemberID, joined.Generation), nil)

	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.MemberID, commit.Generation = "bad", joined.MemberID, joined.Generation
	big := strings.Repeat("x", 5000)
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = "no-such-topic"
	ct.Partitions = []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1, Metadata: &big, LeaderEpoch: -1}}
	createTopic(t, cl, "bad-topic", 1)
	ot := ct
	ot.Topic = "bad-topic"
	commit.Topics = []kmsg.OffsetCommitRequestTopic{ot, ct}
	cresp, err := commit.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int16{}
	for _, rt := range cresp.Topics {
		codes[rt.Topic] = rt.Partitions[0].ErrorCode
	}
	expect("oversized offset metadata", codes["bad-topic"], kerr.OffsetMetadataTooLarge)
	expect("unknown topic", codes["no-such-topic"], kerr.UnknownTopicOrPartition)

	// Commit metadata round-trips.
	small := "hello, offsets"
	ot.Partitions[0].Metadata = &small
	commit.Topics = []kmsg.OffsetCommitRequestTopic{ot}
	if cresp, err = commit.RequestWith(ctx, cl); err != nil || cresp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit with metadata: %v %+v", err, cresp)
	}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Group = "bad"
	fresp, err := fetch.RequestWith(ctx, cl)
	if err != nil || fresp.ErrorCode != 0 || len(fresp.Topics) != 1 || fresp.Topics[0].Partitions[0].Metadata == nil ||
		*fresp.Topics[0].Partitions[0].Metadata != small || fresp.Topics[0].Partitions[0].Offset != 1 {
		t.Fatalf("offset fetch after a commit with metadata: %v %+v", err, fresp)
	}

	// Member metadata too large for one __consumer_offsets record: the
	// leader's SyncGroup cannot be stored.
	huge := make([]byte, 2<<20)
	hj := join("huge", "", "consumer", huge)
	hj = join("huge", hj.MemberID, "consumer", huge)
	expect("join with 2 MiB metadata", hj.ErrorCode, nil)
	expect("sync of a 2 MiB group", sync("huge", hj.MemberID, hj.Generation), kerr.UnknownServerError)
	expectServing(t, b.Addr())
}

// TestKillNineKeepsAcknowledgedCommits kills the broker while a stable
// group commits after every poll of a topic being produced to; after the
// restart the group re-forms and resumes from the last acknowledged commit
// of each partition.
func TestKillNineKeepsAcknowledgedCommits(t *testing.T) {
	b := brokertest.Start(t, groupBrokerArgs...)
	const topic, group, partitions = "kill-commits", "kill-commits-group", 4
	admin := newClient(t, b.Addr())
	createTopic(t, admin, topic, partitions)

	var (
		mu       sync.Mutex
		produced [][2]int64
		acked    = map[int32]int64{} // partition -> last acknowledged committed offset
		commits  int
	)
	stopCtx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	wg.Add(2)
	producerDialer, committerDialer := &killableDialer{}, &killableDialer{}
	producer, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.Dialer(producerDialer.dial),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.DisableIdempotentWrite(), kgo.RecordRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	go func() { // small batches, so that every poll commits a little
		defer wg.Done()
		for stopCtx.Err() == nil {
			if where, _ := produceAcked(stopCtx, producer, topic, 8); len(where) > 0 {
				mu.Lock()
				produced = append(produced, where...)
				mu.Unlock()
			}
		}
	}()
	committer, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.Dialer(committerDialer.dial),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.SessionTimeout(6*time.Second),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer wg.Done()
		for {
			fetches := committer.PollFetches(context.Background())
			if fetches.IsClientClosed() {
				return
			}
			recs := fetches.Records()
			if len(recs) == 0 {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := committer.CommitRecords(ctx, recs...)
			cancel()
			if err != nil {
				continue // not acknowledged: nothing to remember
			}
			mu.Lock()
			for _, r := range recs {
				acked[r.Partition] = max(acked[r.Partition], r.Offset+1)
			}
			commits++
			mu.Unlock()
		}
	}()
	waitFor(t, time.Minute, "50 acknowledged commits", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return commits >= 50
	})
	b.Kill()
	stop()
	producerDialer.kill()
	committerDialer.kill()
	producer.Close()
	committer.Close()
	wg.Wait()
	mu.Lock()
	want := maps.Clone(acked)
	mu.Unlock()

	b.Restart()
	committed := committedOffsets(t, admin, group)
	for p, off := range want {
		if committed[p] < off {
			t.Fatalf("partition %d: committed offset %d after restart, but %d was acknowledged", p, committed[p], off)
		}
	}
	seen := newConsumedSet()
	startMember(t, b.Addr(), group, topic, seen)
	var rest [][2]int64
	for _, po := range produced {
		if po[1] >= committed[int32(po[0])] {
			rest = append(rest, po)
		}
	}
	waitFor(t, time.Minute, "the records after the committed offsets consumed", func() bool { return seen.missing(rest) == 0 })
	seen.mu.Lock()
	defer seen.mu.Unlock()
	for po := range seen.seen {
		if po[1] < committed[int32(po[0])] {
			t.Fatalf("partition %d: offset %d consumed again below the committed %d", po[0], po[1], committed[int32(po[0])])
		}
	}
	t.Logf("%d commits acknowledged before the kill; resumed at %v", commits, committed)
}

// clientProcess is a client program running beside the test.
type clientProcess struct {
	cmd            *exec.Cmd
	stdout, stderr strings.Builder
}

func startClient(t *testing.T, ctx context.Context, name string, args ...string) *clientProcess {
	t.Helper()
	p := &clientProcess{cmd: exec.CommandContext(ctx, name, args...)}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

func (p *clientProcess) wait(t *testing.T) string {
	t.Helper()
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", p.cmd, err, p.stdout.String(), p.stderr.String())
	}
	return p.stdout.String()
}

// TestKcatGroup runs two kcat -G members that split a topic's partitions,
// then one that resumes from their committed offsets.
func TestKcatGroup(t *testing.T) {
	// Kafka's initial rebalance delay lets both members land in the first
	// generation.
	b := brokertest.Start(t, "--set", "groups.initial_rebalance_delay_ms=3000")
	const topic, group, partitions = "kcat-group", "kcat-group-g", 4
	producer := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	createTopic(t, producer, topic, partitions)
	produced := produceRecords(t, producer, topic, 400)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kcat := func() *clientProcess {
		return startClient(t, ctx, "kcat", "-b", b.Addr(), "-G", group, "-e", "-q", "-f", "%p %o\n",
			"-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000", topic)
	}
	parse := func(out string) map[[2]int64]bool {
		got := map[[2]int64]bool{}
		for _, line := range strings.Fields(strings.ReplaceAll(out, " ", ":")) {
			var p, o int64
			if _, err := fmt.Sscanf(line, "%d:%d", &p, &o); err != nil {
				t.Fatalf("kcat line %q", line)
			}
			got[[2]int64{p, o}] = true
		}
		return got
	}
	m1, m2 := kcat(), kcat()
	got1, got2 := parse(m1.wait(t)), parse(m2.wait(t))
	if len(got1) == 0 || len(got2) == 0 {
		t.Fatalf("members consumed %d and %d records: the partitions were not split", len(got1), len(got2))
	}
	for _, po := range produced {
		if !got1[po] && !got2[po] {
			t.Fatalf("record %v not consumed", po)
		}
	}
	committed := committedOffsets(t, producer, group)
	for p, end := range endOffsets(t, b.Addr(), topic) {
		if committed[p] != end {
			t.Fatalf("partition %d: committed %d, end %d", p, committed[p], end)
		}
	}
	fresh := produceRecords(t, producer, topic, 40)
	got := parse(kcat().wait(t))
	if len(got) != len(fresh) {
		t.Fatalf("resumed member consumed %d records, want the %d new ones", len(got), len(fresh))
	}
	for _, po := range fresh {
		if !got[po] {
			t.Fatalf("new record %v not consumed", po)
		}
	}
}

// TestPythonConfluentGroup commits with librdkafka and resumes from the
// commit in a second consumer.
func TestPythonConfluentGroup(t *testing.T) {
	b := brokertest.Start(t, groupBrokerArgs...)
	out := run(t, "", "/usr/bin/python3", "testdata/confluent_group.py", b.Addr())
	if strings.TrimSpace(out) != "ok" {
		t.Fatalf("python client: %q", out)
	}
}

// TestKafkaJSGroup consumes through kafkajs consumer groups.
func TestKafkaJSGroup(t *testing.T) {
	b := brokertest.Start(t, groupBrokerArgs...)
	modules, err := filepath.Abs("../tests/js/node_modules")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NODE_PATH", modules)
	out := run(t, "", "node", "testdata/kafkajs_group.js", b.Addr())
	if strings.TrimSpace(out) != "ok" {
		t.Fatalf("kafkajs client: %q", out)
	}
}

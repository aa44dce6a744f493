package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
	"github.com/riffle/riffle/segment"
)

// lagTimeMaxMs is the replica.lag.time.max.ms of the replication tests'
// topics: short, so that a stopped follower leaves the ISR well before its
// broker session (9 s) expires and fencing would remove it anyway.
const lagTimeMaxMs = 3000

// partState is what one node's Metadata says of partition 0 of a topic.
type partState struct {
	leader   int32
	epoch    int32
	replicas []int32 // in assignment order
	isr      []int32 // sorted
	brokers  []int32 // the unfenced brokers, sorted
}

func (s partState) String() string {
	return fmt.Sprintf("leader %d epoch %d replicas %v isr %v brokers %v", s.leader, s.epoch, s.replicas, s.isr, s.brokers)
}

// partitionState asks addr for topic's partition 0, as a client with opts.
func partitionState(ctx context.Context, addr, topic string, opts ...kgo.Opt) (partState, error) {
	m, err := nodeMetadata(ctx, addr, opts...)
	if err != nil {
		return partState{}, err
	}
	st := partState{leader: -1, brokers: brokerIDs(m)}
	for _, mt := range m.Topics {
		if mt.Topic == nil || *mt.Topic != topic {
			continue
		}
		for _, p := range mt.Partitions {
			if p.Partition == 0 {
				st.leader, st.epoch, st.replicas, st.isr = p.Leader, p.LeaderEpoch, p.Replicas, slices.Sorted(slices.Values(p.ISR))
				return st, nil
			}
		}
	}
	return st, fmt.Errorf("%s: no partition %s/0 in metadata", addr, topic)
}

// waitPartition polls every addr until ok accepts what each says of
// topic's partition 0, and returns the first node's state; it fails the
// test after wait with the last states. opts are the client's (TLS, SASL).
func waitPartition(t *testing.T, addrs []string, topic string, wait time.Duration, what string, ok func(partState) bool, opts ...kgo.Opt) partState {
	t.Helper()
	deadline := time.Now().Add(wait)
	var last []string
	for time.Now().Before(deadline) {
		last = last[:0]
		var first partState
		all := true
		for i, a := range addrs {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			st, err := partitionState(ctx, a, topic, opts...)
			cancel()
			if err != nil {
				last = append(last, fmt.Sprintf("%s: %v", a, err))
				all = false
				continue
			}
			last = append(last, fmt.Sprintf("%s: %s", a, st))
			if i == 0 {
				first = st
			}
			all = all && ok(st)
		}
		if all {
			return first
		}
		time.Sleep(100 * time.Millisecond) // a poll interval, not a wait for an event
	}
	t.Fatalf("%s: not after %v; last states %v", what, wait, last)
	return partState{}
}

// waitFullISR waits until every node shows topic's partition 0 with a
// leader and all three replicas in the ISR.
func waitFullISR(t *testing.T, c *brokertest.Cluster, topic, what string) partState {
	t.Helper()
	return waitPartition(t, c.Addrs(), topic, replicationWait, what, func(st partState) bool {
		return st.leader > 0 && slices.Equal(st.isr, []int32{1, 2, 3})
	})
}

// waitNewLeader waits until every node but old names a leader other than
// old (which is down) for topic's partition 0. opts are the client's.
func waitNewLeader(t *testing.T, c *brokertest.Cluster, topic string, old int32, opts ...kgo.Opt) partState {
	t.Helper()
	return waitPartition(t, liveAddrs(c, old), topic, replicationWait, fmt.Sprintf("a new leader after %d went down", old),
		func(s partState) bool { return s.leader > 0 && s.leader != old }, opts...)
}

// liveAddrs are the Kafka listeners of every node but the ones excluded.
func liveAddrs(c *brokertest.Cluster, excluded ...int32) []string {
	var out []string
	for i, b := range c.Nodes() {
		if !slices.Contains(excluded, int32(i+1)) {
			out = append(out, b.Addr())
		}
	}
	return out
}

// producerRate is how many records a second an ackedProducer sends.
const producerRate = 5000

// ackedAt is one record the cluster acknowledged with acks=all.
type ackedAt struct {
	offset int64
	value  string
}

// ackedProducer produces distinct values (name-<sequence>) to partition 0
// of a topic, continuously, with acks=all and idempotence (franz-go's
// defaults), and records every acknowledgement.
type ackedProducer struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	acked []ackedAt
	errs  map[string]int // failed produces by error text
}

func startAckedProducer(t *testing.T, addrs []string, topic, name string) *ackedProducer {
	t.Helper()
	cl := newClient(t, addrs[0], kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(500),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	ctx, cancel := context.WithCancel(context.Background())
	p := &ackedProducer{cl: cl, cancel: cancel, done: make(chan struct{}), errs: map[string]int{}}
	go func() {
		defer close(p.done)
		// Paced at about producerRate records a second, so that a long
		// run's log and acknowledgements stay small; Produce also blocks
		// while MaxBufferedRecords are unanswered.
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for range producerRate / 100 {
				cl.Produce(ctx, &kgo.Record{Partition: 0, Value: fmt.Appendf(nil, "%s-%09d", name, i)}, p.record)
				i++
			}
		}
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *ackedProducer) record(r *kgo.Record, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if errors.Is(err, context.Canceled) { // the record stop caught in Produce
		return
	}
	if err != nil {
		p.errs[err.Error()]++
		return
	}
	p.acked = append(p.acked, ackedAt{r.Offset, string(r.Value)})
}

func (p *ackedProducer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked)
}

// waitAcks waits until n more records are acknowledged than now.
func (p *ackedProducer) waitAcks(t *testing.T, n int, wait time.Duration, what string) {
	t.Helper()
	target := p.count() + n
	deadline := time.Now().Add(wait)
	for p.count() < target {
		if time.Now().After(deadline) {
			t.Fatalf("not %d more acknowledged records (%s) after %v: %s", n, what, wait, p.summary())
		}
		time.Sleep(20 * time.Millisecond) // a poll interval, not a wait for an event
	}
}

// stop stops producing, waits for every buffered record to be answered,
// and returns the acknowledged records; later calls return the same. A
// record that failed fails the test: franz-go retries every error a
// producer may retry, so a failure is one it cannot.
func (p *ackedProducer) stop(t *testing.T) []ackedAt {
	t.Helper()
	p.cancel()
	<-p.done
	ctx, cancel := context.WithTimeout(context.Background(), replicationWait)
	defer cancel()
	if err := p.cl.Flush(ctx); err != nil {
		t.Errorf("producer flush: %v", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) > 0 {
		t.Errorf("produces failed: %v", p.errs)
	}
	return slices.Clone(p.acked)
}

func (p *ackedProducer) summary() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("%d acknowledged, failures %v", len(p.acked), p.errs)
}

// checkAckedReadBack consumes partition 0 of topic from the start up to
// its high watermark with a fresh client and checks that every
// acknowledged record is there, at its acknowledged offset, and that no
// value appears twice (idempotence). It returns the offset of every value
// read.
func checkAckedReadBack(t *testing.T, addrs []string, topic string, acked []ackedAt) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), replicationWait)
	defer cancel()
	cl := newClient(t, addrs[0], kgo.SeedBrokers(addrs...))
	var hw int64 = -1
	var lastErr error
	waitFor(t, replicationWait, "the high watermark of "+topic, func() bool {
		ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if lastErr = err; err != nil {
			return false
		}
		o, _ := ends.Lookup(topic, 0)
		hw = o.Offset
		return true
	})
	if lastErr != nil {
		t.Fatalf("list end offsets: %v", lastErr)
	}
	consumer := newClient(t, addrs[0], kgo.SeedBrokers(addrs...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	byOffset := map[int64]string{}
	atOffset := map[string]int64{}
	dups := 0
	for next := int64(0); next < hw; {
		fetches := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", len(byOffset), hw, ctx.Err())
		}
		fetches.EachError(func(_ string, _ int32, err error) { t.Logf("fetch (retried): %v", err) })
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset >= hw {
				return
			}
			v := string(r.Value)
			if prev, dup := atOffset[v]; dup && prev != r.Offset {
				if dups++; dups <= 10 {
					t.Errorf("value %s at offsets %d and %d", v, prev, r.Offset)
				}
			}
			byOffset[r.Offset], atOffset[v] = v, r.Offset
			next = max(next, r.Offset+1)
		})
	}
	if dups > 0 {
		t.Errorf("%d values read more than once", dups)
	}
	wrong := 0
	for _, a := range acked {
		got, ok := byOffset[a.offset]
		if ok && got == a.value {
			continue
		}
		if wrong++; wrong > 10 {
			continue
		}
		switch {
		case !ok:
			t.Errorf("acknowledged %s at offset %d: no record there (high watermark %d)", a.value, a.offset, hw)
		case got != a.value:
			t.Errorf("acknowledged %s at offset %d: the log has %s there", a.value, a.offset, got)
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d acknowledged records not read back at their offsets", wrong, len(acked))
	}
	t.Logf("%d acknowledged records read back at their offsets (high watermark %d, %d records read)", len(acked), hw, len(byOffset))
	return atOffset
}

// checkReplicas checks that the acknowledged records are read back from
// topic's partition 0 (checkAckedReadBack, whose map it returns) and
// waits until the three replicas' segment files hold the same bytes.
func checkReplicas(t *testing.T, c *brokertest.Cluster, topic string, acked []ackedAt) map[string]int64 {
	t.Helper()
	read := checkAckedReadBack(t, c.Addrs(), topic, acked)
	var dirs []string
	for _, b := range c.Nodes() {
		dirs = append(dirs, b.DataDir())
	}
	waitSameLog(t, dirs, topic, "the three replicas of "+topic)
	t.Logf("the three replicas' segment files of %s-0 hold the same bytes", topic)
	return read
}

// pauseFollowersUntilAhead stops with SIGSTOP the two followers of
// topic's partition 0 (led by leader), then appends two records with
// acks=1 on the leader (values named after kill, the kill's number). The first may still go out to a follower's parked
// fetch; the second cannot (stopped followers send no fetch): killed then,
// the leader keeps a tail no other replica has, which it must truncate
// once it follows the next leader. It returns what resumes the followers.
func pauseFollowersUntilAhead(t *testing.T, c *brokertest.Cluster, topic string, leader int32, kill int) (resume func()) {
	t.Helper()
	var resumes []func()
	for id := int32(1); id <= 3; id++ {
		if id != leader {
			resumes = append(resumes, pauseBroker(t, c, id))
		}
	}
	for i := range 2 {
		if code := produceCode(t, c.Node(leader).Addr(), topic, fmt.Sprintf("tail-before-kill-%d-%d", kill, i), 1); code != 0 {
			t.Fatalf("acks=1 produce on leader %d with its followers paused: %v", leader, kerr.ErrorForCode(code))
		}
	}
	return func() {
		for _, r := range resumes {
			r()
		}
	}
}

// pauseFollower stops with SIGSTOP a follower of topic's partition 0 (led
// by leader) that is not the active controller, and waits until the other
// nodes show it out of the ISR, which they return with how long it took
// after SIGSTOP. SIGCONT goes with resume, or when the test ends.
func pauseFollower(t *testing.T, c *brokertest.Cluster, topic string, leader int32) (paused int32, resume func(), shrunk partState, took time.Duration) {
	t.Helper()
	paused = followerNotController(t, c.Node(leader).Addr(), leader)
	resume = pauseBroker(t, c, paused)
	stopped := time.Now()
	shrunk = waitPartition(t, liveAddrs(c, paused), topic, replicationWait, fmt.Sprintf("the paused broker %d out of the ISR", paused),
		func(s partState) bool { return !slices.Contains(s.isr, paused) })
	return paused, resume, shrunk, time.Since(stopped)
}

// pauseBroker stops node id with SIGSTOP; SIGCONT is sent when the test
// ends, whatever happens, so that the cluster's cleanup can stop it.
func pauseBroker(t *testing.T, c *brokertest.Cluster, id int32) (resume func()) {
	t.Helper()
	pid := c.Node(id).PID()
	var once sync.Once
	resume = func() {
		once.Do(func() {
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT broker %d: %v", id, err)
			}
		})
	}
	t.Cleanup(resume)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP broker %d: %v", id, err)
	}
	return resume
}

// followerNotController picks a follower of a partition led by leader
// that is not the active controller either, so that stopping it leaves the
// metadata quorum's leader in place.
func followerNotController(t *testing.T, addr string, leader int32) int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := nodeMetadata(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	for id := int32(1); id <= 3; id++ {
		if id != leader && id != m.ControllerID {
			return id
		}
	}
	t.Fatalf("no follower outside leader %d and controller %d", leader, m.ControllerID)
	return 0
}

// produceCode sends one record to partition 0 of topic on addr in a raw
// Produce (acks -1 or 1, timeout 5 s) and returns the partition's error
// code.
func produceCode(t *testing.T, addr, topic, value string, acks int16) int16 {
	t.Helper()
	// franz-go sets a raw Produce's acks from its client's option.
	opt := kgo.RequiredAcks(kgo.AllISRAcks())
	if acks == 1 {
		opt = kgo.RequiredAcks(kgo.LeaderAck())
	}
	cl := newClient(t, addr, opt, kgo.DisableIdempotentWrite())
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = segment.EncodeBatch(nil, segment.BatchSpec{BaseTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]segment.Record{{Value: []byte(value)}})
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		t.Fatalf("produce to %s: %v", addr, err)
	}
	return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
}

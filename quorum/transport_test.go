package quorum

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/riffle/riffle/internal/kafkatest"
	"github.com/riffle/riffle/internal/testport"
)

// inbox records what a test transport received and reported.
type inbox struct {
	mu          sync.Mutex
	msgs        []*raftpb.Message
	unreachable map[int32]int
	snapshots   map[bool]int // snapshot reports by ok
}

func (in *inbox) onMessage(m *raftpb.Message) {
	in.mu.Lock()
	in.msgs = append(in.msgs, m)
	in.mu.Unlock()
}

func (in *inbox) onUnreachable(id int32) {
	in.mu.Lock()
	in.unreachable[id]++
	in.mu.Unlock()
}

// indexesFrom returns the Index of each message received from node, in order.
func (in *inbox) indexesFrom(node int32) []uint64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []uint64
	for _, m := range in.msgs {
		if m.GetFrom() == RaftID(node) {
			out = append(out, m.GetIndex())
		}
	}
	return out
}

func (in *inbox) onSnapshotStatus(id int32, ok bool) {
	in.mu.Lock()
	in.snapshots[ok]++
	in.mu.Unlock()
}

func (in *inbox) snapshotReports(ok bool) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.snapshots[ok]
}

func (in *inbox) unreachableCount(id int32) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.unreachable[id]
}

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type testNode struct {
	tr *Transport
	in *inbox
}

// startNode starts transport id on peers[id] (which must be set).
func startNode(t testing.TB, id int32, peers map[int32]string, tweak func(*TransportConfig)) *testNode {
	t.Helper()
	in := &inbox{unreachable: map[int32]int{}, snapshots: map[bool]int{}}
	cfg := TransportConfig{
		NodeID:           id,
		Listen:           peers[id],
		Peers:            peers,
		OnMessage:        in.onMessage,
		OnUnreachable:    in.onUnreachable,
		OnSnapshotStatus: in.onSnapshotStatus,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	tr, err := NewTransport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return &testNode{tr: tr, in: in}
}

// cluster starts n transports with ids 0..n-1 that know each other.
func cluster(t testing.TB, n int, tweak func(*TransportConfig)) []*testNode {
	t.Helper()
	peers := map[int32]string{}
	for id, addr := range testport.Addrs(t, n) {
		peers[int32(id)] = addr
	}
	nodes := make([]*testNode, n)
	for id := range int32(n) {
		nodes[id] = startNode(t, id, peers, tweak)
	}
	return nodes
}

func msg(from, to int32, index uint64) *raftpb.Message {
	return &raftpb.Message{
		Type:  raftpb.MessageType_MsgApp.Enum(),
		From:  proto.Uint64(RaftID(from)),
		To:    proto.Uint64(RaftID(to)),
		Index: proto.Uint64(index),
		Entries: []*raftpb.Entry{{
			Term: proto.Uint64(1), Index: proto.Uint64(index + 1), Data: []byte("payload"),
		}},
	}
}

func snap(from, to int32) *raftpb.Message {
	return &raftpb.Message{
		Type: raftpb.MessageType_MsgSnap.Enum(),
		From: proto.Uint64(RaftID(from)),
		To:   proto.Uint64(RaftID(to)),
		Snapshot: &raftpb.Snapshot{
			Data:     make([]byte, 1<<20),
			Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(100), Term: proto.Uint64(2)},
		},
	}
}

func inOrder(got []uint64, first, n uint64) bool {
	if uint64(len(got)) != n {
		return false
	}
	for i, x := range got {
		if x != first+uint64(i) {
			return false
		}
	}
	return true
}

func TestTransportDeliversInOrder(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d nodes", n), func(t *testing.T) {
			const perPeer = 600
			nodes := cluster(t, n, nil)
			var wg sync.WaitGroup
			for from := range int32(n) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := uint64(0); i < perPeer; i += 10 {
						var batch []*raftpb.Message
						for j := i; j < i+10; j++ {
							for to := range int32(n) {
								if to != from {
									batch = append(batch, msg(from, to, j))
								}
							}
						}
						nodes[from].tr.Send(batch)
					}
				}()
			}
			wg.Wait()
			for to, node := range nodes {
				for from := range int32(n) {
					if from == int32(to) {
						continue
					}
					eventually(t, 20*time.Second, fmt.Sprintf("%d messages %d->%d", perPeer, from, to), func() bool {
						return len(node.in.indexesFrom(from)) >= perPeer
					})
					if got := node.in.indexesFrom(from); !inOrder(got, 0, perPeer) {
						t.Fatalf("%d->%d: got %d messages, not 0..%d in order: %v", from, to, len(got), perPeer-1, got[:min(len(got), 20)])
					}
					if u := nodes[from].in.unreachableCount(int32(to)); u != 0 {
						t.Errorf("%d reported %d unreachable %d times", from, to, u)
					}
				}
			}
		})
	}
}

// sendsReturn fails unless send returns within 2 s: Send must not block.
func sendsReturn(t *testing.T, what string, send func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { send(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatalf("%s blocked", what)
	}
}

// TestTransportPeerDownThenUp: while the peer is down Send returns at once
// and drops, reporting the peer unreachable; once it starts, messages flow.
func TestTransportPeerDownThenUp(t *testing.T) {
	addrs := testport.Addrs(t, 2)
	peers := map[int32]string{1: addrs[0], 2: addrs[1]}
	small := func(c *TransportConfig) { c.QueueLen = 8 }
	a := startNode(t, 1, peers, small)

	sendsReturn(t, "5000 Sends to a down peer", func() {
		for i := range uint64(5000) {
			a.tr.Send([]*raftpb.Message{msg(1, 2, i)})
		}
	})
	eventually(t, 10*time.Second, "peer 2 reported unreachable", func() bool { return a.in.unreachableCount(2) > 0 })
	a.tr.Send([]*raftpb.Message{snap(1, 2)})
	eventually(t, 10*time.Second, "a failed snapshot reported", func() bool { return a.in.snapshotReports(false) > 0 })
	if n := a.in.snapshotReports(true); n != 0 {
		t.Fatalf("%d snapshots to a down peer reported sent", n)
	}

	b := startNode(t, 2, peers, small)
	next := uint64(1 << 20) // above anything sent while it was down
	eventually(t, 20*time.Second, "a message after the peer started", func() bool {
		a.tr.Send([]*raftpb.Message{msg(1, 2, next)})
		next++
		return len(b.in.indexesFrom(1)) > 0
	})
	// Probes may still be queued; the burst below fills the queue exactly.
	eventually(t, 10*time.Second, "the probes sent", func() bool { return len(a.tr.peers[2].queue) == 0 })
	first := next
	for i := range uint64(8) {
		a.tr.Send([]*raftpb.Message{msg(1, 2, first+i)})
	}
	eventually(t, 10*time.Second, "the 8 messages after reconnecting", func() bool {
		got := b.in.indexesFrom(1)
		return len(got) > 0 && got[len(got)-1] == first+7
	})
	got := b.in.indexesFrom(1)
	if !inOrder(got[len(got)-8:], first, 8) {
		t.Fatalf("after reconnecting: %v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("out of order: %v", got)
		}
	}
	a.tr.Send([]*raftpb.Message{snap(1, 2)})
	eventually(t, 10*time.Second, "a sent snapshot reported", func() bool { return a.in.snapshotReports(true) == 1 })
}

// TestTransportReconnectsAfterRestart: the peer restarts on the same port;
// the sender notices the dead connection and redials.
func TestTransportReconnectsAfterRestart(t *testing.T) {
	nodes := cluster(t, 2, nil)
	a, b := nodes[0], nodes[1]
	a.tr.Send([]*raftpb.Message{msg(0, 1, 0)})
	eventually(t, 10*time.Second, "first message", func() bool { return len(b.in.indexesFrom(0)) == 1 })

	addr := b.tr.Addr().String()
	if err := b.tr.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := startNode(t, 1, map[int32]string{0: a.tr.Addr().String(), 1: addr}, nil)
	next := uint64(1)
	eventually(t, 10*time.Second, "a message to the restarted peer", func() bool {
		a.tr.Send([]*raftpb.Message{msg(0, 1, next)})
		next++
		return len(b2.in.indexesFrom(0)) > 0
	})
}

// TestTransportFullQueueDropsAndReportsUnreachable: a peer that accepts but
// never reads stalls the writer; the queue fills, Send keeps returning,
// drops and reports the peer.
func TestTransportFullQueueDropsAndReportsUnreachable(t *testing.T) {
	stalled, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := stalled.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never read
		}
	}()
	t.Cleanup(func() {
		for len(accepted) > 0 {
			(<-accepted).Close()
		}
	})
	peers := map[int32]string{1: "127.0.0.1:0", 2: stalled.Addr().String()}
	a := startNode(t, 1, peers, func(c *TransportConfig) { c.QueueLen = 4 })

	a.tr.Send([]*raftpb.Message{msg(1, 2, 0)})
	eventually(t, 10*time.Second, "the sender connected", func() bool { return len(accepted) > 0 })
	if n := a.in.unreachableCount(2); n != 0 {
		t.Fatalf("%d unreachable reports before the queue filled", n)
	}
	big := msg(1, 2, 0)
	big.Entries[0].Data = make([]byte, 256<<10)
	sendsReturn(t, "Sends to a stalled peer", func() {
		for range 400 { // 100 MiB, far beyond the socket buffers
			a.tr.Send([]*raftpb.Message{big})
		}
	})
	if a.in.unreachableCount(2) == 0 {
		t.Fatal("no unreachable report for a full queue")
	}
}

// rawConn dials addr and writes hello, for tests that speak the wire
// format by hand.
func rawConn(t *testing.T, addr string, kind byte, from int32) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(binary.BigEndian.AppendUint32([]byte{kind}, uint32(from))); err != nil {
		t.Fatal(err)
	}
	return c
}

// expectClosed fails unless the transport closes c (an EOF, not a timeout).
func expectClosed(t *testing.T, what string, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64<<10)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue // a response, when the refusal comes later
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: connection still open", what)
		}
		return
	}
}

func raftFrame(m *raftpb.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

func TestTransportRefusesBadInput(t *testing.T) {
	nodes := cluster(t, 3, func(c *TransportConfig) {
		c.Handler = func(ctx context.Context, from int32, req kmsg.Request) (kmsg.Response, error) {
			return req.ResponseKind(), nil
		}
	})
	b := nodes[1]
	addr := b.tr.Addr().String()
	metadata := kmsg.NewPtrMetadataRequest()
	metadata.SetVersion(9)

	cases := []struct {
		name  string
		kind  byte
		from  int32
		bytes []byte
		// halfClose ends the stream after bytes, for a frame cut short.
		halfClose bool
	}{
		{"unknown kind", 'X', 0, nil, false},
		{"raft from an unknown node", 'R', 7, raftFrame(msg(7, 1, 0)), false},
		{"raft from itself", 'R', 1, raftFrame(msg(1, 1, 0)), false},
		{"oversized raft frame", 'R', 0, []byte{0xff, 0xff, 0xff, 0xff}, false},
		{"empty raft frame", 'R', 0, []byte{0, 0, 0, 0}, false},
		{"garbage raft frame", 'R', 0, append([]byte{0, 0, 0, 8}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), false},
		{"truncated raft frame", 'R', 0, append([]byte{0, 0, 0, 100}, raftFrame(msg(0, 1, 0))[4:]...), true},
		{"another sender", 'R', 0, raftFrame(msg(2, 1, 0)), false},
		{"to another node", 'R', 0, raftFrame(msg(0, 2, 0)), false},
		{"oversized call frame", 'K', 0, kafkatest.Sized(make([]byte, 2<<20)), false},
		{"garbage call frame", 'K', 0, kafkatest.Sized([]byte{0, 19, 0, 7, 0, 0, 0, 1, 0x7f, 0xff, 1}), false},
		{"not a controller api", 'K', 0, kafkatest.Sized(kafkatest.Frame(metadata, 1)), false},
	}
	for _, tc := range cases {
		c := rawConn(t, addr, tc.kind, tc.from)
		c.Write(tc.bytes) // may fail: the transport can close before reading all
		if tc.halfClose {
			c.(*net.TCPConn).CloseWrite()
		}
		expectClosed(t, tc.name, c)
	}
	// A valid frame before a bad one is delivered; the bad one is not.
	c := rawConn(t, addr, 'R', 0)
	c.Write(append(raftFrame(msg(0, 1, 41)), raftFrame(msg(2, 1, 42))...))
	expectClosed(t, "good then bad", c)
	if got := b.in.indexesFrom(0); len(got) != 1 || got[0] != 41 {
		t.Fatalf("from 0: %v, want [41]", got)
	}
	if got := b.in.indexesFrom(2); len(got) != 0 {
		t.Fatalf("a message claiming node 2 was delivered: %v", got)
	}
	// The transport still serves its peers.
	nodes[2].tr.Send([]*raftpb.Message{msg(2, 1, 5)})
	eventually(t, 10*time.Second, "a valid message after bad input", func() bool { return len(b.in.indexesFrom(2)) == 1 })
	req := kmsg.NewPtrCreateTopicsRequest()
	if _, err := nodes[0].tr.Call(context.Background(), 1, req); err != nil {
		t.Fatalf("a valid call after bad input: %v", err)
	}
}

func createTopics(names ...string) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(7) // flexible: header v2
	req.TimeoutMillis = 5000
	for _, n := range names {
		topic := kmsg.NewCreateTopicsRequestTopic()
		topic.Topic, topic.NumPartitions, topic.ReplicationFactor = n, 3, 1
		req.Topics = append(req.Topics, topic)
	}
	return req
}

// echoTopics answers a CreateTopics request naming each topic, with the
// caller's id as the partition count so the test sees from.
func echoTopics(ctx context.Context, from int32, req kmsg.Request) (kmsg.Response, error) {
	ct, ok := req.(*kmsg.CreateTopicsRequest)
	if !ok {
		return nil, fmt.Errorf("unexpected %T", req)
	}
	if len(ct.Topics) == 1 && ct.Topics[0].Topic == "fail" {
		return nil, errors.New("handler failed")
	}
	resp := kmsg.NewPtrCreateTopicsResponse()
	for _, topic := range ct.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic, rt.NumPartitions = topic.Topic, from
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

func TestTransportCall(t *testing.T) {
	nodes := cluster(t, 3, func(c *TransportConfig) { c.Handler = echoTopics })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		from, to := int32(i%3), int32((i+1)%3)
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("topic-%d", i)
			resp, err := nodes[from].tr.Call(ctx, to, createTopics(name, "second"))
			if err != nil {
				errs <- err
				return
			}
			ct := resp.(*kmsg.CreateTopicsResponse)
			if ct.GetVersion() != 7 || len(ct.Topics) != 2 || ct.Topics[0].Topic != name || ct.Topics[0].NumPartitions != from {
				errs <- fmt.Errorf("call %d from %d: response %+v", i, from, ct)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// A handler error closes the connection: the call fails, the next works.
	if _, err := nodes[0].tr.Call(ctx, 1, createTopics("fail")); err == nil {
		t.Fatal("a failing handler's call succeeded")
	}
	if _, err := nodes[0].tr.Call(ctx, 1, createTopics("after")); err != nil {
		t.Fatalf("call after a failed one: %v", err)
	}
	// A broker that is not a voter has no listener and calls the voters.
	voters := map[int32]string{}
	for id, n := range nodes {
		voters[int32(id)] = n.tr.Addr().String()
	}
	broker := startNode(t, 7, voters, nil)
	if broker.tr.Addr() != nil {
		t.Fatalf("a transport without Listen listens on %v", broker.tr.Addr())
	}
	resp, err := broker.tr.Call(ctx, 2, createTopics("from-broker"))
	if err != nil {
		t.Fatalf("call from a non-voter: %v", err)
	}
	if got := resp.(*kmsg.CreateTopicsResponse).Topics[0].NumPartitions; got != 7 {
		t.Fatalf("the handler saw the call from node %d, want 7", got)
	}
	if _, err := nodes[0].tr.Call(ctx, 9, createTopics("x")); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("call to an unknown node: %v", err)
	}
}

// TestTransportCallAfterPeerRestart: the caller's idle connection to the
// old process is noticed and not used.
func TestTransportCallAfterPeerRestart(t *testing.T) {
	nodes := cluster(t, 2, func(c *TransportConfig) { c.Handler = echoTopics })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := nodes[0].tr.Call(ctx, 1, createTopics("before")); err != nil {
		t.Fatal(err)
	}
	addr := nodes[1].tr.Addr().String()
	if err := nodes[1].tr.Close(); err != nil {
		t.Fatal(err)
	}
	startNode(t, 1, map[int32]string{0: nodes[0].tr.Addr().String(), 1: addr}, func(c *TransportConfig) { c.Handler = echoTopics })
	if _, err := nodes[0].tr.Call(ctx, 1, createTopics("after")); err != nil {
		t.Fatalf("first call after the peer restarted: %v", err)
	}
}

// TestTransportCallToDeadPeer: a peer that is not listening, or that
// accepts and never answers, fails the call within its context.
func TestTransportCallToDeadPeer(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	peers := map[int32]string{0: "127.0.0.1:0", 1: testport.Addr(t), 2: silent.Addr().String()}
	a := startNode(t, 0, peers, nil)
	for _, to := range []int32{1, 2} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		done := make(chan error, 1)
		go func() {
			_, err := a.tr.Call(ctx, to, createTopics("t"))
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(3 * time.Second):
			t.Fatalf("call to node %d still running 3s into a 300ms context", to)
		}
		cancel()
		if err == nil {
			t.Fatalf("call to node %d succeeded", to)
		}
		if to == 2 && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("call to the silent node: %v, want the context's deadline", err)
		}
	}
}

// TestTransportClosePromptWithCallsInFlight: calls blocked in the peer's
// handler fail at once when the caller's transport closes, and the
// serving transport closes promptly too, its handlers told through ctx.
func TestTransportClosePromptWithCallsInFlight(t *testing.T) {
	var inHandler atomic.Int32
	nodes := cluster(t, 2, func(c *TransportConfig) {
		c.Handler = func(ctx context.Context, from int32, req kmsg.Request) (kmsg.Response, error) {
			inHandler.Add(1)
			<-ctx.Done()
			return nil, ctx.Err()
		}
	})
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := nodes[0].tr.Call(context.Background(), 1, createTopics("t"))
			errs <- err
		}()
	}
	eventually(t, 10*time.Second, "8 calls in the handler", func() bool { return inHandler.Load() == 8 })

	start := time.Now()
	if err := nodes[0].tr.Close(); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrTransportClosed) {
				t.Errorf("in-flight call: %v, want ErrTransportClosed", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("in-flight calls still running 2s after Close")
		}
	}
	if err := nodes[1].tr.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("closing with calls in flight took %v", took)
	}
	if _, err := nodes[0].tr.Call(context.Background(), 1, createTopics("t")); !errors.Is(err, ErrTransportClosed) {
		t.Fatalf("call after Close: %v", err)
	}
}

// BenchmarkTransportRaftMessages: MsgApp messages with one 100-byte entry
// from one transport to another over loopback, Send in batches of 64, at
// most 2048 in flight (the queue holds 4096, so none is dropped).
func BenchmarkTransportRaftMessages(b *testing.B) {
	var received atomic.Int64
	progress := make(chan struct{}, 1)
	addrs := testport.Addrs(b, 2)
	peers := map[int32]string{0: addrs[0], 1: addrs[1]}
	big := func(c *TransportConfig) { c.QueueLen = 4096 }
	a := startNode(b, 0, peers, big)
	startNode(b, 1, peers, func(c *TransportConfig) {
		big(c)
		c.OnMessage = func(*raftpb.Message) {
			received.Add(1)
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	})
	batch := make([]*raftpb.Message, 64)
	for i := range batch {
		batch[i] = msg(0, 1, uint64(i))
		batch[i].Entries[0].Data = make([]byte, 100)
	}
	b.ResetTimer()
	sent := 0
	for sent < b.N {
		if int64(sent)-received.Load() > 2048 {
			<-progress
			continue
		}
		n := min(len(batch), b.N-sent)
		a.tr.Send(batch[:n])
		sent += n
	}
	for received.Load() < int64(b.N) {
		select {
		case <-progress:
		case <-time.After(10 * time.Second):
			b.Fatalf("received %d of %d (unreachable reports: %d)", received.Load(), b.N, a.in.unreachableCount(1))
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// FuzzTransportRaftStream: whatever a peer sends on its raft stream, only
// messages from it to this node are delivered, and nothing panics.
func FuzzTransportRaftStream(f *testing.F) {
	f.Add(append(raftFrame(msg(0, 1, 3)), raftFrame(snap(0, 1))...))
	f.Add(raftFrame(msg(2, 1, 0)))
	f.Add([]byte{0, 0, 0, 3, 8, 1, 0x10})
	f.Fuzz(func(t *testing.T, stream []byte) {
		tr := &Transport{cfg: TransportConfig{
			NodeID:            1,
			MaxRaftFrameBytes: 1 << 20,
			OnMessage: func(m *raftpb.Message) {
				if m.GetFrom() != RaftID(0) || m.GetTo() != RaftID(1) {
					t.Fatalf("delivered %v", m)
				}
			},
		}}
		tr.serveRaft(bufio.NewReader(bytes.NewReader(stream)), 0)
	})
}

// TestTransportFetch: an observer (no listener) fetches from a voter over
// the 'O' kind: the index and cluster id arrive, the answer (larger than
// a read buffer) and the leader come back; a voter without a Fetch
// handler refuses, and an oversized cluster id is not sent.
func TestTransportFetch(t *testing.T) {
	var calls atomic.Int32
	voters := cluster(t, 2, func(c *TransportConfig) {
		if c.NodeID == 0 {
			c.Fetch = func(_ context.Context, from int32, index uint64, clusterID string) (int32, *raftpb.Message, error) {
				calls.Add(1)
				m := &raftpb.Message{Type: new(raftpb.MsgApp), Commit: new(index + 10), Context: []byte(clusterID)}
				m.Entries = []*raftpb.Entry{{Index: new(index), Term: new(uint64(from)), Data: bytes.Repeat([]byte{7}, 100_000)}}
				return 1, m, nil
			}
		}
	})
	peers := map[int32]string{0: voters[0].tr.Addr().String(), 1: voters[1].tr.Addr().String()}
	obs := startNode(t, 9, peers, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range uint64(3) {
		lead, m, err := obs.tr.Fetch(ctx, 0, 40+i, "cluster-a")
		if err != nil {
			t.Fatal(err)
		}
		e := m.GetEntries()
		if lead != 1 || m.GetCommit() != 50+i || string(m.GetContext()) != "cluster-a" || len(e) != 1 ||
			e[0].GetIndex() != 40+i || e[0].GetTerm() != 9 || len(e[0].GetData()) != 100_000 {
			t.Fatalf("fetch %d: lead %d, %v", i, lead, m.GetCommit())
		}
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("%d fetches served, want 3", n)
	}
	if _, _, err := obs.tr.Fetch(ctx, 1, 1, ""); err == nil {
		t.Fatal("a voter without a Fetch handler answered")
	}
	if _, _, err := obs.tr.Fetch(ctx, 0, 1, strings.Repeat("x", clusterIDBytesMax+1)); err == nil {
		t.Fatal("a fetch with an oversized cluster id was sent")
	}
}

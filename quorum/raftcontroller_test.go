package quorum

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/segment/vfs"
)

// raftCluster is n Controllers on raft nodes in one process, ticking fast,
// each on its raft log over its own MemFS.
type raftCluster struct {
	t              *testing.T
	net            *chanNetwork
	voters         []uint64
	snapshotEvery  uint64        // 0: the default
	sessionTimeout time.Duration // 0: no broker sessions
	rebalanceEvery time.Duration // 0: no automatic leader rebalance
	disks          []*vfs.MemFS  // disks[i] is node i+1's
	stores         []*rlStore    // open on disks[i] while ctrls[i] runs
	ctrls          []*Controller
}

func newRaftCluster(t *testing.T, n int) *raftCluster {
	rc := newStoppedRaftCluster(t, n, 0)
	for i := range n {
		rc.start(i)
	}
	return rc
}

// newStoppedRaftCluster makes the disks of n voters that snapshot every
// snapshotEvery entries and keep 1 entry behind a snapshot; start runs them.
func newStoppedRaftCluster(t *testing.T, n int, snapshotEvery uint64) *raftCluster {
	rc := &raftCluster{t: t, net: &chanNetwork{peers: map[uint64]*Controller{}}, snapshotEvery: snapshotEvery,
		disks: make([]*vfs.MemFS, n), stores: make([]*rlStore, n), ctrls: make([]*Controller, n)}
	for i := range n {
		rc.voters = append(rc.voters, RaftID(int32(i+1)))
		_, rc.disks[i] = newMemStore(t, 0)
	}
	t.Cleanup(func() {
		for _, c := range rc.ctrls {
			if c != nil {
				c.Close()
			}
		}
	})
	return rc
}

// start runs node i on what its disk holds.
func (rc *raftCluster) start(i int) {
	id := rc.voters[i]
	rc.stores[i] = (&rlStore{t: rc.t, fs: rc.disks[i], dir: "/data", id: id, voters: rc.voters, keep: 1}).open()
	b := Broker{ID: nodeOfRaftID(id), Host: "127.0.0.1", Port: 9090 + int32(id)}
	// A 10 ms tick (100 ms election timeout): shorter ones cost a loaded
	// machine, under -race, spurious elections that the tests read as
	// failures.
	c, err := openRaft(Options{NodeID: b.ID, Broker: b, ValidateTopicConfig: ValidateTopicConfig, Logger: quietLogger()},
		raftOptions{voters: rc.voters, storage: rc.stores[i].rl, network: rc.net, tick: 10 * time.Millisecond, snapshotEvery: rc.snapshotEvery,
			sessionTimeout: rc.sessionTimeout, rebalanceEvery: rc.rebalanceEvery})
	if err != nil {
		rc.t.Fatal(err)
	}
	rc.net.mu.Lock()
	rc.net.peers[id] = c
	rc.net.mu.Unlock()
	rc.ctrls[i] = c
}

// crash stops node i as power loss does: its disk keeps what was durable.
func (rc *raftCluster) crash(i int) {
	rc.net.mu.Lock()
	delete(rc.net.peers, rc.voters[i])
	rc.net.mu.Unlock()
	rc.ctrls[i].Close()
	rc.ctrls[i], rc.stores[i] = nil, nil
	rc.disks[i] = rc.disks[i].CrashClone()
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// leader waits until every node names the same controller, which has
// registered itself, and returns it and a follower.
func (rc *raftCluster) leader() (leader, follower *Controller) {
	waitFor(rc.t, "an agreed controller", func() bool {
		id := rc.ctrls[0].Image().ControllerID
		for _, c := range rc.ctrls {
			if im := c.Image(); im.ControllerID != id || id == -1 || len(im.Brokers) == 0 {
				return false
			}
		}
		return true
	})
	id := rc.ctrls[0].Image().ControllerID
	return rc.ctrls[id-1], rc.ctrls[id%int32(len(rc.ctrls))]
}

// registerAll registers every node's broker, through the active
// controller, and waits until each node's image holds its own.
func (rc *raftCluster) registerAll() {
	for _, c := range rc.ctrls {
		self := Broker{ID: c.raft.self, Host: "127.0.0.1", Port: 9090 + int32(RaftID(c.raft.self))} // as start registers it
		waitFor(rc.t, "a registration", func() bool { return c.RegisterBroker(self) == nil })
		waitFor(rc.t, "the registration in the node's image", func() bool { _, ok := c.Image().Broker(self.ID); return ok })
	}
}

// TestRaftControllerSnapshots: a voter down while the others snapshot and
// trim their logs past it is caught up by the leader's snapshot, and every
// voter restarts from its own snapshot and the entries after it, to the
// leader's image.
func TestRaftControllerSnapshots(t *testing.T) {
	rc := newStoppedRaftCluster(t, 3, 4)
	for i := range 3 {
		rc.start(i)
	}
	leader, _ := rc.leader()
	down := int(leader.Image().ControllerID) % 3 // a follower's index
	behind := rc.ctrls[down].Image().Offset
	rc.crash(down)
	for i := range 12 {
		if _, err := leader.CreateTopic(CreateTopic{Name: fmt.Sprint("t", i), Partitions: 1, ReplicationFactor: 1}, 1, 1, false); err != nil {
			t.Fatal(err)
		}
	}
	st, err := leader.QuorumStatus()
	if err != nil {
		t.Fatal(err)
	}
	rc.start(down)
	same := func(i int) func() bool {
		return func() bool { return canonicalImage(rc.ctrls[i].Image()) == canonicalImage(leader.Image()) }
	}
	waitFor(t, "the restarted voter to catch up", same(down))
	// It missed entries the leader no longer holds: only a snapshot from
	// the leader brings it the image.
	if snap, err := rc.stores[down].rl.Snapshot(); err != nil || snap.GetMetadata().GetIndex() <= st.Match[int32(down+1)] {
		t.Fatalf("node %d (image at offset %d, match %d) caught up without a snapshot past it: %v, %v", down+1, behind, st.Match[int32(down+1)], snap.GetMetadata(), err)
	}
	if _, err := rc.ctrls[down].CreateTopic(CreateTopic{Name: "after", Partitions: 1, ReplicationFactor: 1}, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if rc.ctrls[i] == leader {
			continue
		}
		waitFor(t, "every voter to apply the last change", same(i))
		want := canonicalImage(rc.ctrls[i].Image())
		rc.crash(i)
		rc.start(i)
		if got := canonicalImage(rc.ctrls[i].Image()); got != want {
			t.Errorf("node %d restarted to\n%s\nit held\n%s", i+1, got, want)
		}
	}
}

// TestRaftControllerForwards: every change made on a follower is forwarded
// to the active controller, committed, and seen by the follower before the
// change method returns; errors come back as the same sentinels.
func TestRaftControllerForwards(t *testing.T) {
	rc := newRaftCluster(t, 3)
	leader, follower := rc.leader()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	topic, err := follower.CreateTopic(CreateTopic{Name: "orders", Partitions: -1, ReplicationFactor: 1,
		Configs: map[string]string{"retention.ms": "1000"}}, 3, 1, false)
	must(err)
	if len(topic.Partitions) != 3 || topic.Configs["retention.ms"] != "1000" || follower.Image().Topic("orders") != topic {
		t.Fatalf("forwarded create returned %+v", topic)
	}
	if _, err := follower.CreateTopic(CreateTopic{Name: "orders", Partitions: 1, ReplicationFactor: 1}, 1, 1, false); !errors.Is(err, ErrTopicExists) {
		t.Errorf("forwarded create of an existing topic: %v", err)
	}
	// The daemon's own topics stay internal through forwarding.
	if internal, err := follower.CreateTopic(CreateTopic{Name: "__consumer_offsets", Partitions: 1, ReplicationFactor: 1,
		Internal: true}, 1, 1, false); err != nil || !internal.Internal {
		t.Errorf("forwarded create of an internal topic: %+v, %v", internal, err)
	}
	if _, err := follower.CreateTopic(CreateTopic{Name: "v", Partitions: 1, ReplicationFactor: 1}, 1, 1, true); err != nil {
		t.Errorf("validate-only on a follower: %v", err)
	}
	must(follower.CreatePartitions("orders", 5, false))
	must(follower.AlterTopicConfigs("orders", map[string]*string{"retention.ms": nil, "segment.ms": strp("60000")}, false))
	if err := follower.AlterTopicConfigs("orders", map[string]*string{"no.such": strp("1")}, false); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("forwarded bad config: %v", err)
	}
	must(follower.DeleteTopic("orders"))
	if err := follower.DeleteTopic("orders"); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("forwarded delete of a deleted topic: %v", err)
	}

	seen := map[int64]bool{}
	for i := range 30 {
		c := follower
		if i%3 == 0 {
			c = leader
		}
		first, err := c.AllocateProducerIDs(40)
		must(err)
		for id := first; id < first+40; id++ {
			if seen[id] {
				t.Fatalf("producer id %d handed out twice", id)
			}
			seen[id] = true
		}
	}

	want := leader.Image()
	for _, c := range rc.ctrls {
		waitFor(t, "every node to apply the changes", func() bool { return c.Image().Offset == want.Offset })
		if got := c.Image(); !reflect.DeepEqual(got, want) {
			t.Errorf("node %d image:\n%s\nleader's:\n%s", got.ControllerID, formatImage(got), formatImage(want))
		}
	}
	st, err := leader.QuorumStatus()
	must(err)
	if st.Leader != st.NodeID || len(st.Match) != 3 {
		t.Errorf("leader's quorum status %+v", st)
	}
}

// TestRaftControllerOnChange: a follower's listeners see the changes the
// controller commits, in order.
func TestRaftControllerOnChange(t *testing.T) {
	rc := newRaftCluster(t, 3)
	leader, follower := rc.leader()
	got := make(chan string, 10)
	follower.OnChange(func(prev, next *Image) {
		for t := range next.Topics() {
			if prev.Topic(t.Name) == nil {
				got <- t.Name
			}
		}
	})
	for i := range 3 {
		if _, err := leader.CreateTopic(CreateTopic{Name: fmt.Sprint("t", i), Partitions: 1, ReplicationFactor: 1}, 1, 1, false); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		select {
		case name := <-got:
			if want := fmt.Sprint("t", i); name != want {
				t.Errorf("change %d created %s, want %s", i, name, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("change %d not delivered", i)
		}
	}
}

// TestRaftControllerFailover: with the controller gone, the other voters
// elect a new one and changes made on them commit again.
func TestRaftControllerFailover(t *testing.T) {
	rc := newRaftCluster(t, 3)
	leader, _ := rc.leader()
	if _, err := leader.CreateTopic(CreateTopic{Name: "before", Partitions: 1, ReplicationFactor: 1}, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	old := leader.Image().ControllerID
	leader.Close()
	var rest []*Controller
	for _, c := range rc.ctrls {
		if c != leader {
			rest = append(rest, c)
		}
	}
	var lastErr error
	waitFor(t, "a change on a surviving voter to commit", func() bool {
		_, lastErr = rest[0].CreateTopic(CreateTopic{Name: "after", Partitions: 1, ReplicationFactor: 1}, 1, 1, false)
		return lastErr == nil || errors.Is(lastErr, ErrTopicExists)
	})
	for _, c := range rest {
		waitFor(t, "both survivors to see both topics", func() bool {
			im := c.Image()
			return im.Topic("before") != nil && im.Topic("after") != nil && im.ControllerID != old && im.ControllerID != -1
		})
	}
}

// TestRaftControllerHandleRequest: a voter that is not the controller
// answers NOT_CONTROLLER rather than forward again, and refuses requests
// that are not controller changes or of a version riffle nodes do not send.
func TestRaftControllerHandleRequest(t *testing.T) {
	rc := newRaftCluster(t, 3)
	_, follower := rc.leader()
	resp, err := follower.HandleRequest(t.Context(), allocateProducerIDsRequest(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := allocateProducerIDsResult(resp); !errors.Is(err, ErrNotController) {
		t.Errorf("AllocateProducerIds on a follower: %v", err)
	}
	resp, err = follower.HandleRequest(t.Context(), alterPartitionRequest(AlterPartition{BrokerID: 1}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alterPartitionResult(resp); !errors.Is(err, ErrNotController) {
		t.Errorf("AlterPartition on a follower: %v", err)
	}
	old := alterPartitionRequest(AlterPartition{BrokerID: 1})
	old.Version = 2 // ISR members without broker epochs
	if _, err := follower.HandleRequest(t.Context(), old); err == nil {
		t.Error("an AlterPartition v2 request was served")
	}
	if _, err := follower.HandleRequest(t.Context(), kmsg.NewPtrMetadataRequest()); err == nil {
		t.Error("a Metadata request was served as a controller change")
	}
}

// TestRaftControllerOneVoter: a quorum of one runs the same code.
func TestRaftControllerOneVoter(t *testing.T) {
	rc := newRaftCluster(t, 1)
	c, _ := rc.leader()
	if _, err := c.CreateTopic(CreateTopic{Name: "solo", Partitions: 2, ReplicationFactor: 1}, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	first, err := c.AllocateProducerIDs(5)
	if err != nil {
		t.Fatal(err)
	}
	if im := c.Image(); im.Topic("solo") == nil || im.ProducerIDsEnd < first+5 || im.ControllerID != 1 {
		t.Errorf("image after the changes:\n%s", formatImage(im))
	}
}

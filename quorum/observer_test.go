package quorum

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/riffle/riffle/segment/vfs"
)

// testObserver is a broker-only node beside a raftCluster: its raft log
// on its own MemFS, fetching through the cluster's chanNetwork.
type testObserver struct {
	rc    *raftCluster
	id    int32
	disk  *vfs.MemFS
	store *rlStore
	ctrl  *Controller
	// cut fails every fetch while set, as a network that drops them.
	cut atomic.Bool
	// snaps counts the snapshots voters sent it.
	snaps atomic.Int32
}

func (rc *raftCluster) newObserver(id int32) *testObserver {
	o := &testObserver{rc: rc, id: id}
	_, o.disk = newMemStore(rc.t, 0)
	rc.t.Cleanup(func() {
		if o.ctrl != nil {
			o.ctrl.Close()
		}
	})
	return o
}

// start runs the observer on what its disk holds. It snapshots every
// 1000 entries: in these tests, a snapshot in its log came from a voter.
func (o *testObserver) start() {
	rc := o.rc
	o.store = (&rlStore{t: rc.t, fs: o.disk, dir: "/data", id: RaftID(o.id), voters: rc.voters, keep: 1}).open()
	b := Broker{ID: o.id, Host: "127.0.0.1", Port: 9090 + int32(RaftID(o.id))}
	var voters []int32
	for _, v := range rc.voters {
		voters = append(voters, nodeOfRaftID(v))
	}
	c, err := openObserver(Options{NodeID: o.id, Broker: b, ValidateTopicConfig: ValidateTopicConfig, Logger: quietLogger()},
		raftOptions{voters: rc.voters, storage: o.store.rl, network: rc.net, snapshotEvery: 1000}, voters, o.fetch)
	if err != nil {
		rc.t.Fatal(err)
	}
	o.ctrl = c
}

// fetch is the observer's fetch from voter to, through the wire encoding.
func (o *testObserver) fetch(ctx context.Context, to int32, index uint64, clusterID string) (int32, *raftpb.Message, error) {
	c := o.rc.net.peer(RaftID(to))
	if c == nil || o.cut.Load() {
		return -1, nil, fmt.Errorf("node %d unreachable", to)
	}
	lead, m, err := c.serveFetch(ctx, o.id, index, clusterID)
	if err != nil {
		return -1, nil, err
	}
	wire, err := proto.Marshal(m)
	if err != nil {
		return -1, nil, err
	}
	got := &raftpb.Message{}
	if err := proto.Unmarshal(wire, got); err != nil {
		return -1, nil, err
	}
	if got.GetType() == raftpb.MsgSnap {
		o.snaps.Add(1)
	}
	return lead, got, nil
}

// crash stops the observer as power loss does.
func (o *testObserver) crash() {
	o.ctrl.Close()
	o.ctrl, o.store = nil, nil
	o.disk = o.disk.CrashClone()
}

// sameAs waits until the observer's image is the leader's, controller
// id included.
func (o *testObserver) sameAs(t *testing.T, leader *Controller) {
	t.Helper()
	waitFor(t, "the observer to catch up", func() bool {
		want := leader.Image()
		got := o.ctrl.Image()
		return got.Offset == want.Offset && canonicalImage(got) == canonicalImage(want) && got.ControllerID == want.ControllerID
	})
}

func createTopicsOn(t *testing.T, c *Controller, prefix string, n int) {
	t.Helper()
	for i := range n {
		if _, err := c.CreateTopic(CreateTopic{Name: fmt.Sprint(prefix, i), Partitions: 1, ReplicationFactor: 1}, 1, 1, false); err != nil {
			t.Fatal(err)
		}
	}
}

// observed starts 3 voters, commits topics changes, then starts observer
// 7 and waits until it caught up.
func observed(t *testing.T, topics int) (rc *raftCluster, leader *Controller, o *testObserver) {
	rc = newRaftCluster(t, 3)
	leader, _ = rc.leader()
	createTopicsOn(t, leader, "t", topics)
	o = rc.newObserver(7)
	o.start()
	o.sameAs(t, leader)
	return rc, leader, o
}

// TestObserverCatchUp: an observer started empty catches up with the
// committed log from the voters' entries while their logs hold it all,
// follows new commits, and lists itself at the leader.
func TestObserverCatchUp(t *testing.T) {
	_, leader, o := observed(t, 5)
	createTopicsOn(t, leader, "u", 3)
	o.sameAs(t, leader)
	if n := o.snaps.Load(); n != 0 {
		t.Errorf("caught up from a full log with %d snapshots", n)
	}
	if obs := leader.raft.observers.list(time.Now()); len(obs) != 1 || obs[0].ID != 7 || obs[0].Match < 1 {
		t.Errorf("the leader lists observers %+v", obs)
	}
	// Its stored log is the voters' committed log, entry for entry.
	want, err := leader.raft.storage.FetchCommitted(1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := o.store.rl.Entries(1, uint64(len(want.GetEntries()))+1, 1<<30)
	if err != nil || len(got) != len(want.GetEntries()) {
		t.Fatalf("observer log: %d entries, %v; want %d", len(got), err, len(want.GetEntries()))
	}
	for i, e := range got {
		w := want.GetEntries()[i]
		if e.GetTerm() != w.GetTerm() || !sameBatch(e.GetData(), w.GetData()) {
			t.Fatalf("observer entry %d: term %d, want %d", e.GetIndex(), e.GetTerm(), w.GetTerm())
		}
	}
}

// TestObserverSnapshotCatchUp: an observer behind the voters' trimmed
// logs (started late, or cut off while they snapshot) is sent a snapshot
// and carries on with the entries after it.
func TestObserverSnapshotCatchUp(t *testing.T) {
	rc := newStoppedRaftCluster(t, 3, 4)
	for i := range 3 {
		rc.start(i)
	}
	leader, _ := rc.leader()
	createTopicsOn(t, leader, "t", 12)
	o := rc.newObserver(7)
	o.start()
	o.sameAs(t, leader)
	if o.snaps.Load() == 0 {
		t.Fatal("an observer started after the voters trimmed their logs caught up without a snapshot")
	}
	o.cut.Store(true)
	before := o.snaps.Load()
	createTopicsOn(t, leader, "u", 12)
	o.cut.Store(false)
	o.sameAs(t, leader)
	if o.snaps.Load() == before {
		t.Fatal("an observer cut off while the voters trimmed their logs caught up without a snapshot")
	}
	createTopicsOn(t, leader, "v", 2)
	o.sameAs(t, leader)
}

// TestObserverRestart: an observer restarts from its own copy of the log
// (no voter reachable), then catches up.
func TestObserverRestart(t *testing.T) {
	_, leader, o := observed(t, 6)
	held := o.ctrl.Image()
	o.crash()
	o.cut.Store(true)
	createTopicsOn(t, leader, "u", 2)
	o.start()
	if got := o.ctrl.Image(); got.Offset != held.Offset || canonicalImage(got) != canonicalImage(held) {
		t.Fatalf("the observer restarted to\n%s\nit held\n%s", formatImage(got), formatImage(held))
	}
	// Not caught up (the daemon's readiness) until a voter has answered.
	if st, err := o.ctrl.QuorumStatus(); err != nil || st.Commit != 0 {
		t.Fatalf("status with no voter reached: %+v, %v", st, err)
	}
	o.cut.Store(false)
	o.sameAs(t, leader)
	if st, err := o.ctrl.QuorumStatus(); err != nil || st.Commit == 0 || st.Applied < st.Commit {
		t.Fatalf("status once caught up: %+v, %v", st, err)
	}
}

// TestObserverLeaderChange: with the active controller gone, the observer
// follows the new one: it names it, its changes are forwarded to it, and
// its image stays the voters'.
func TestObserverLeaderChange(t *testing.T) {
	rc := newRaftCluster(t, 3)
	leader, _ := rc.leader()
	o := rc.newObserver(7)
	o.start()
	self := Broker{ID: 7, Host: "127.0.0.1", Port: 9090 + int32(RaftID(7))}
	waitFor(t, "the observer's registration", func() bool { return o.ctrl.RegisterBroker(self) == nil })
	waitFor(t, "the registration in the observer's image", func() bool { _, ok := o.ctrl.Image().Broker(7); return ok })
	if _, err := o.ctrl.CreateTopic(CreateTopic{Name: "before", Partitions: 1, ReplicationFactor: 1}, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	if o.ctrl.Image().Topic("before") == nil {
		t.Fatal("a forwarded change returned before the observer's image held it")
	}
	old := leader.Image().ControllerID
	rc.crash(int(old) - 1)
	var next *Controller
	waitFor(t, "a change forwarded by the observer to commit under a new controller", func() bool {
		_, err := o.ctrl.CreateTopic(CreateTopic{Name: "after", Partitions: 1, ReplicationFactor: 1}, 1, 1, false)
		return err == nil || errors.Is(err, ErrTopicExists)
	})
	for _, c := range rc.ctrls {
		if c != nil && c.Image().ControllerID == nodeOfRaftID(c.raft.node.id) {
			next = c
		}
	}
	if next == nil {
		t.Fatal("no voter is the controller")
	}
	o.sameAs(t, next)
	if id := o.ctrl.Image().ControllerID; id == old || id == -1 {
		t.Fatalf("the observer names controller %d (the old one was %d)", id, old)
	}
	first, err := o.ctrl.AllocateProducerIDs(10)
	if err != nil || first < 0 {
		t.Fatalf("producer ids through the new controller: %d, %v", first, err)
	}
	st, err := o.ctrl.QuorumStatus()
	if err != nil || st.Leader != next.Image().ControllerID || st.Commit == 0 || st.Match != nil {
		t.Fatalf("observer status %+v, %v", st, err)
	}
}

// TestObserverOtherCluster: an observer whose log is another cluster's is
// refused by the voters before it stores any of their entries, and its
// registration fails naming both cluster ids.
func TestObserverOtherCluster(t *testing.T) {
	_, _, o := observed(t, 0)
	theirs := o.ctrl.Image()
	o.crash()
	rc := newRaftCluster(t, 3)
	leader, _ := rc.leader()
	createTopicsOn(t, leader, "ours", 6)
	o.rc = rc
	o.start()
	var err error
	waitFor(t, "the registration refused", func() bool {
		err = o.ctrl.RegisterBroker(Broker{ID: 7, Host: "127.0.0.1", Port: 9098})
		return errors.Is(err, ErrInconsistentClusterID)
	})
	if ours := leader.Image().ClusterID; !strings.Contains(err.Error(), ours) || !strings.Contains(err.Error(), theirs.ClusterID) {
		t.Fatalf("refusal %q does not name both %s and %s", err, ours, theirs.ClusterID)
	}
	if got := o.ctrl.Image(); got.Topic("ours0") != nil || got.ClusterID != theirs.ClusterID {
		t.Fatalf("the observer applied another cluster's entries:\n%s", formatImage(got))
	}
}

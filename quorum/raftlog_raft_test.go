package quorum

import (
	"io"
	stdlog "log"
	"math"
	"reflect"
	"slices"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/riffle/riffle/segment/vfs"
)

// These tests drive real raft.RawNodes over raftLog, stepped by hand with
// messages passed in memory, to prove the raft.Storage contract: raft
// elects, replicates, commits, compacts and sends snapshots over it, and a
// node restarted from it finds the same entries and HardState.

// raftPeer is one node: its store, its RawNode and the image it applied.
type raftPeer struct {
	t       testing.TB
	id      uint64
	store   *rlStore
	mem     *vfs.MemFS // nil on the OS filesystem
	rn      *raft.RawNode
	im      *Image
	applied uint64
	down    bool // cut off: messages to and from it are dropped
}

var quietRaft = &raft.DefaultLogger{Logger: stdlog.New(io.Discard, "", 0)}

// start opens the store and a RawNode on it, as a restart does: the image
// from the snapshot, entries after it applied again.
func (p *raftPeer) start() {
	p.t.Helper()
	p.store.open()
	rl := p.store.rl
	snap, err := rl.Snapshot()
	if err != nil {
		p.t.Fatal(err)
	}
	p.im, p.applied = emptyImage(0), snap.GetMetadata().GetIndex()
	if !raft.IsEmptySnap(snap) {
		if p.im, err = decodeImage(snap.GetData(), 0); err != nil {
			p.t.Fatal(err)
		}
	}
	p.rn, err = raft.NewRawNode(&raft.Config{
		ID: p.id, ElectionTick: 10, HeartbeatTick: 1, Storage: rl, Applied: p.applied,
		MaxSizePerMsg: 4 << 10, MaxInflightMsgs: 16, PreVote: true, CheckQuorum: true, Logger: quietRaft,
	})
	if err != nil {
		p.t.Fatal(err)
	}
}

func (p *raftPeer) stop() {
	p.store.close()
	p.rn = nil
}

// handleReady runs one Ready as the node loop does and returns its messages.
func (p *raftPeer) handleReady() []*raftpb.Message {
	p.t.Helper()
	rd := p.rn.Ready()
	if err := p.store.rl.Save(rd.Snapshot, rd.Entries, rd.HardState); err != nil {
		p.t.Fatalf("node %d: %v", p.id, err)
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		im, err := decodeImage(rd.Snapshot.GetData(), 0)
		if err != nil {
			p.t.Fatal(err)
		}
		p.im, p.applied = im, rd.Snapshot.GetMetadata().GetIndex()
	}
	for _, e := range rd.CommittedEntries {
		p.im = applyEntries(p.t, p.store.rl, p.im, []*raftpb.Entry{e})
		p.applied = e.GetIndex()
	}
	p.rn.Advance(rd)
	return rd.Messages
}

type peerCluster struct {
	t     testing.TB
	peers []*raftPeer
}

func (c *peerCluster) peer(id uint64) *raftPeer { return c.peers[id-1] }

// pump runs Readys and delivers messages until nothing moves.
func (c *peerCluster) pump() {
	c.t.Helper()
	for round := 0; ; round++ {
		if round > 10000 {
			c.t.Fatal("the cluster does not quiesce")
		}
		var msgs []*raftpb.Message
		for _, p := range c.peers {
			for p.rn != nil && p.rn.HasReady() {
				msgs = append(msgs, p.handleReady()...)
			}
		}
		if len(msgs) == 0 {
			return
		}
		for _, m := range msgs {
			from, to := c.peer(m.GetFrom()), c.peer(m.GetTo())
			delivered := to.rn != nil && !to.down && !from.down
			if delivered {
				if err := to.rn.Step(m); err != nil {
					c.t.Fatalf("step %v into node %d: %v", m.GetType(), to.id, err)
				}
			}
			if m.GetType() == raftpb.MsgSnap && from.rn != nil {
				status := raft.SnapshotFinish
				if !delivered {
					status = raft.SnapshotFailure
				}
				from.rn.ReportSnapshot(to.id, status)
			}
		}
	}
}

// findLeader returns the leader of the highest term among the nodes not
// cut off (a deposed leader may not know it yet), or nil.
func (c *peerCluster) findLeader() *raftPeer {
	var l *raftPeer
	for _, p := range c.peers {
		if p.rn == nil || p.down || p.rn.Status().RaftState != raft.StateLeader {
			continue
		}
		if l == nil || p.rn.Status().GetTerm() > l.rn.Status().GetTerm() {
			l = p
		}
	}
	return l
}

func (c *peerCluster) leader() *raftPeer {
	c.t.Helper()
	l := c.findLeader()
	if l == nil {
		c.t.Fatal("no leader")
	}
	return l
}

// catchUp ticks the leader, whose heartbeats reach p, until p applied
// what the leader did.
func (c *peerCluster) catchUp(p *raftPeer) {
	c.t.Helper()
	l := c.leader()
	for tick := 0; p.applied != l.applied; tick++ {
		if tick > 100 {
			c.t.Fatalf("node %d at %d, the leader at %d", p.id, p.applied, l.applied)
		}
		l.rn.Tick()
		c.pump()
	}
}

// propose proposes n changes on the leader, one reserved producer id block
// each, and runs the cluster until they are applied there.
func (c *peerCluster) propose(n int) {
	c.t.Helper()
	l := c.leader()
	for range n {
		end := l.im.ProducerIDsEnd + 1000
		if err := l.rn.Propose(encodeBatch([]record{producerIDsRecord{BlockEnd: end}}, 0)); err != nil {
			c.t.Fatal(err)
		}
		c.pump()
		if l.im.ProducerIDsEnd != end {
			c.t.Fatalf("proposal of block end %d not applied: image at %d", end, l.im.ProducerIDsEnd)
		}
	}
}

// state is what a restart must find in a store.
type storeState struct {
	hs   *raftpb.HardState
	ents []*raftpb.Entry
}

func stateOf(t testing.TB, rl *raftLog) storeState {
	t.Helper()
	h, _, err := rl.InitialState()
	if err != nil {
		t.Fatal(err)
	}
	first, _ := rl.FirstIndex()
	last, _ := rl.LastIndex()
	ents, err := rl.Entries(first, last+1, math.MaxUint64)
	if err != nil {
		t.Fatal(err)
	}
	return storeState{hs: h, ents: ents}
}

func equalEntries(a, b []*raftpb.Entry) bool {
	return slices.EqualFunc(a, b, func(x, y *raftpb.Entry) bool { return proto.Equal(x, y) })
}

func TestRaftLogSingleVoterRawNode(t *testing.T) {
	c := &peerCluster{t: t}
	p := &raftPeer{t: t, id: 1, store: &rlStore{t: t, fs: vfs.OS, dir: t.TempDir(), id: 1, voters: []uint64{1}, keep: 2}}
	c.peers = []*raftPeer{p}
	p.start()
	if err := p.rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	c.pump()
	c.propose(12)
	before, im := stateOf(t, p.store.rl), p.im
	if last := before.ents[len(before.ents)-1].GetIndex(); before.hs.GetCommit() != last || p.applied != last {
		t.Fatalf("commit %d, applied %d, last entry %d", before.hs.GetCommit(), p.applied, last)
	}

	restart := func() {
		t.Helper()
		p.stop()
		p.start()
		if after := stateOf(t, p.store.rl); !proto.Equal(after.hs, before.hs) || !equalEntries(after.ents, before.ents) {
			t.Fatalf("after restart: HardState %v, %d entries; before %v, %d entries", after.hs, len(after.ents), before.hs, len(before.ents))
		}
		c.pump() // committed entries after the snapshot are applied again
		if !reflect.DeepEqual(p.im, im) {
			t.Fatalf("image after restart:\n%s\nbefore:\n%s", formatImage(p.im), formatImage(im))
		}
	}
	restart()
	// A snapshot, more entries in a new term, and a restart from both.
	if err := p.store.rl.CreateSnapshot(p.applied-3, encodeImage(imageAtTest(t, p, p.applied-3))); err != nil {
		t.Fatal(err)
	}
	if err := p.rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	c.pump()
	c.propose(3)
	before, im = stateOf(t, p.store.rl), p.im
	if before.hs.GetTerm() < 2 {
		t.Fatalf("term %d after a second campaign", before.hs.GetTerm())
	}
	restart()
}

// imageAtTest is the image after entry index: p's image with the entries
// after it undone by replaying from p's snapshot (or the empty image).
func imageAtTest(t testing.TB, p *raftPeer, index uint64) *Image {
	t.Helper()
	snap, err := p.store.rl.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	im := emptyImage(0)
	if !raft.IsEmptySnap(snap) {
		if im, err = decodeImage(snap.GetData(), 0); err != nil {
			t.Fatal(err)
		}
	}
	ents, err := p.store.rl.Entries(snap.GetMetadata().GetIndex()+1, index+1, math.MaxUint64)
	if err != nil {
		t.Fatal(err)
	}
	return applyEntries(t, p.store.rl, im, ents)
}

// Three voters: they elect, replicate byte-identical metadata logs (same
// offsets on every node), bring a node that missed compacted entries up
// with a snapshot, and carry on after one restarts from power loss.
func TestRaftLogThreeVotersRawNode(t *testing.T) {
	c := &peerCluster{t: t}
	for id := uint64(1); id <= 3; id++ {
		s, mem := newMemStore(t, id, 1, 2, 3)
		s.keep = 2
		p := &raftPeer{t: t, id: id, store: s, mem: mem}
		p.start()
		c.peers = append(c.peers, p)
	}
	if err := c.peer(1).rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	c.pump()
	if c.leader().id != 1 {
		t.Fatalf("leader %d", c.leader().id)
	}
	c.propose(5)
	c.checkSame(1, 2, 3)

	// Node 3 misses entries that the leader then compacts.
	c.peer(3).down = true
	c.propose(10)
	l := c.peer(1)
	if err := l.store.rl.CreateSnapshot(l.applied, encodeImage(l.im)); err != nil {
		t.Fatal(err)
	}
	if first, _ := l.store.rl.FirstIndex(); first <= c.peer(3).applied+1 {
		t.Fatalf("leader's log from %d still serves node 3 at %d", first, c.peer(3).applied)
	}
	c.peer(3).down = false
	c.catchUp(c.peer(3))
	snap, _ := c.peer(3).store.rl.Snapshot()
	if snap.GetMetadata().GetIndex() != l.applied {
		t.Fatalf("node 3 has snapshot %d, the leader's is at %d", snap.GetMetadata().GetIndex(), l.applied)
	}
	c.propose(2)
	c.checkSame(1, 2, 3)

	// The leader, cut off, appends entries no one else gets; the others
	// elect a leader whose entries replace them.
	l.down = true
	for range 3 {
		if err := l.rn.Propose(encodeBatch([]record{clusterIDRecord{ClusterID: "lost"}}, 0)); err != nil {
			t.Fatal(err)
		}
	}
	c.pump()
	stale, _ := l.store.rl.LastIndex()
	if stale != l.applied+3 {
		t.Fatalf("cut-off leader's log ends at %d, applied %d", stale, l.applied)
	}
	for tick := 0; c.findLeader() == nil; tick++ {
		if tick > 100 {
			t.Fatal("no new leader")
		}
		c.peer(2).rn.Tick()
		c.peer(3).rn.Tick()
		c.pump()
	}
	c.propose(4)
	l.down = false
	c.catchUp(l)
	if _, last, _ := l.store.rl.entryOffsets(l.applied); l.im.ClusterID == "lost" || last != l.im.Offset {
		t.Fatalf("node 1 applied cluster id %q, image at %d, entry %d at %d", l.im.ClusterID, l.im.Offset, l.applied, last)
	}
	c.checkSame(1, 2, 3)

	// Node 3 loses power; node 1 restarts cleanly. All carry on.
	p3 := c.peer(3)
	before := stateOf(t, p3.store.rl)
	p3.store.fs = p3.mem.CrashClone()
	p3.mem = p3.store.fs.(*vfs.MemFS)
	p3.start()
	if after := stateOf(t, p3.store.rl); !proto.Equal(after.hs, before.hs) || !equalEntries(after.ents, before.ents) {
		t.Fatalf("node 3 after power loss: HardState %v, %d entries; before %v, %d entries", after.hs, len(after.ents), before.hs, len(before.ents))
	}
	c.peer(1).stop()
	c.peer(1).start()
	if err := c.peer(2).rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	c.pump()
	c.propose(3)
	c.checkSame(1, 2, 3)
}

// checkSame checks that the nodes applied the same image at the same index
// and hold byte-identical entries where their logs overlap, at the same
// metadata log offsets.
func (c *peerCluster) checkSame(ids ...uint64) {
	c.t.Helper()
	a := c.peer(ids[0])
	for _, id := range ids[1:] {
		b := c.peer(id)
		if a.applied != b.applied || !reflect.DeepEqual(a.im, b.im) {
			c.t.Fatalf("node %d applied %d:\n%s\nnode %d applied %d:\n%s", a.id, a.applied, formatImage(a.im), b.id, b.applied, formatImage(b.im))
		}
		fa, _ := a.store.rl.FirstIndex()
		fb, _ := b.store.rl.FirstIndex()
		ea, eb := stateOf(c.t, a.store.rl).ents, stateOf(c.t, b.store.rl).ents
		from := max(fa, fb)
		ea, eb = ea[from-fa:], eb[from-fb:]
		if len(ea) == 0 || !equalEntries(ea, eb) {
			c.t.Fatalf("nodes %d and %d: %d and %d entries from %d differ", a.id, b.id, len(ea), len(eb), from)
		}
		for i := from; i <= a.applied; i++ {
			ba, la, _ := a.store.rl.entryOffsets(i)
			bb, lb, _ := b.store.rl.entryOffsets(i)
			if ba != bb || la != lb {
				c.t.Fatalf("entry %d at offsets %d-%d on node %d, %d-%d on node %d", i, ba, la, a.id, bb, lb, b.id)
			}
		}
	}
}

package quorum

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"testing"
	"testing/cryptotest"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/riffle/riffle/segment/vfs"
)

// The deterministic simulation of a metadata quorum: 3 or 5 raft nodes with
// their controller cores, driven by one seeded random source on one
// goroutine, with a virtual clock (ticks), a network that drops, delays,
// reorders, duplicates and partitions messages, and power failures. Each
// node runs on the real raft log (raftlog.go) over its own vfs.MemFS: a
// crash restarts it from the disk's CrashClone, at a random moment or at a
// random filesystem operation inside a Save or a snapshot. Nodes snapshot
// every few entries and trim their logs, so a node partitioned or down for
// long is caught up by the leader's snapshot. Clients create and delete
// topics and allocate producer ids at random nodes, in bursts, so a leader
// has several changes in flight (planned on its speculative image,
// allocations served from a block still being reserved); a node that is
// not the controller forwards the change as its Kafka request. Invariants are
// checked after every step; then the faults stop and the cluster must
// elect a leader, converge and commit a change within a tick budget, and
// every node's disk must replay to its live image.
//
// Some seeds add observers (broker-only nodes, observer.go): they fetch
// the committed log from the voters through the same faulty network
// (fetches lost, duplicated, late: an observer asks again after a
// timeout), crash and lose unsynced data like the voters, forward client
// changes to the leader they were told of, and must hold at each applied
// index the image the voters held there.
//
// raft draws its election timeouts from crypto/rand: cryptotest seeds it
// with the run's seed, so a seed replays exactly.
//
// RIFFLE_SIM_SEED=n runs seed n alone (with its trace on failure);
// RIFFLE_LONG=1 runs 100,000 seeds.

// simParams are one seed's fault settings (each seed draws its own).
type simParams struct {
	voters     int
	observers  int // broker-only nodes, ids after the voters'
	steps      int
	dropP      float64
	dupP       float64
	delayMax   int64 // ticks; 1 is next tick
	crashP     float64
	partitionP float64
	opP        float64
	// snapshotEvery is the core's snapshot interval in entries; keep the
	// entries the raft log keeps behind a snapshot.
	snapshotEvery, keep uint64
}

type simMsg struct {
	at       int64
	seq      uint64 // sends in order, so equal deadlines keep a fixed order
	from, to uint64
	raft     *raftpb.Message
	call     *simCall
	report   *simReport
	fetch    *simFetch
}

// simFetch is an observer's fetch, then the voter's answer (resp set).
type simFetch struct {
	id        uint64
	index     uint64
	clusterID string
	lead      int32
	resp      *raftpb.Message
}

// simReport, queued as a message from peer p to node n, is what the
// transport tells n of its message to p: a snapshot went out (or not), or
// p is unreachable.
type simReport struct{ snap, ok bool }

// simCall is a forwarded change: the request, then its response.
type simCall struct {
	id   uint64
	req  kmsg.Request
	resp kmsg.Response
}

// simOp is a client's change at a node, waiting for its forwarded call.
type simOp struct {
	kind  int // simCreate, simDelete, simProducerIDs
	topic string
	n     int64
}

const (
	simCreate = iota
	simDelete
	simProducerIDs
)

type simNode struct {
	id        uint64
	up        bool
	downUntil int64
	disk      *vfs.MemFS // what the node's filesystem holds
	store     *rlStore   // the raft log open on disk, through inject
	// powerFailAt > 0 fails the power at that many filesystem operations
	// into the node's next writes (Save, CreateSnapshot); lostPower is the
	// disk then.
	powerFailAt int
	writing     bool
	lostPower   *vfs.MemFS
	node        *raftNode
	core        *core
	pids        pidBlock
	calls       map[uint64]simOp // forwarded, awaiting a response
	installs    int              // snapshots received from a leader
	// obs is set on an up observer, which has no raft node; fetching is
	// its fetch in flight (id 0: none), answered by fetchDue or given up.
	obs      *observer
	fetching simFetch
	fetchTo  int32
	fetchDue int64
}

var errCrashed = errors.New("simulated power failure")

// inject fails the power inside a write once powerFailAt operations ran:
// only inside writes, since raft takes a failed read for a corrupt log.
func (n *simNode) inject(vfs.Op, string) error {
	if !n.writing || n.powerFailAt == 0 || n.lostPower != nil {
		return nil
	}
	if n.powerFailAt--; n.powerFailAt > 0 {
		return nil
	}
	n.lostPower = n.disk.CrashClone()
	return errCrashed
}

// simStorage is a node's raft log with its writes marked for inject. A
// write the power failed in fails, even where the log carries on past the
// operation (a failed index write): the machine is down.
type simStorage struct {
	*raftLog
	s *sim
	n *simNode
}

func (s simStorage) Save(snap *raftpb.Snapshot, ents []*raftpb.Entry, hs *raftpb.HardState) error {
	return s.write(func() error { return s.raftLog.Save(snap, ents, hs) })
}

func (s simStorage) CreateSnapshot(index uint64, data []byte) error {
	s.s.stats.snapshots++
	return s.write(func() error { return s.raftLog.CreateSnapshot(index, data) })
}

func (s simStorage) write(f func() error) error {
	s.n.writing = true
	err := f()
	s.n.writing = false
	if s.n.lostPower != nil {
		return errCrashed
	}
	return err
}

type simEntry struct {
	term uint64
	data []byte
}

type simAck struct{ index, term uint64 }

// simStats counts the faults and forwarding a run went through.
type simStats struct {
	crashes, tornWrites, partitions, forwarded, replaced int
	snapshots, installs                                  int // taken; received from the leader
	observed, observerSnaps                              int // entries and snapshots observers applied
	// pipelined counts the times a leader had several changes in flight;
	// deepest is the most it had.
	pipelined, deepest int
}

func (st *simStats) add(o simStats) {
	st.crashes += o.crashes
	st.tornWrites += o.tornWrites
	st.partitions += o.partitions
	st.forwarded += o.forwarded
	st.replaced += o.replaced
	st.snapshots += o.snapshots
	st.installs += o.installs
	st.observed += o.observed
	st.pipelined += o.pipelined
	st.deepest = max(st.deepest, o.deepest)
	st.observerSnaps += o.observerSnaps
}

// proposalDone counts a proposed change whose entry another term replaced.
func (st *simStats) proposalDone(p *proposal, err error) {
	if p.index > 0 && errors.Is(err, ErrNotController) {
		st.replaced++
	}
}

type sim struct {
	seed  uint64
	rng   *rand.Rand
	p     simParams
	p0    simParams // p as drawn, before the liveness phase changes it
	now   int64
	ids   []uint64
	nodes []*simNode // nodes[i].id == i+1
	queue []simMsg
	seq   uint64
	group []int // partition side of each node; messages across sides are lost

	history   map[uint64]simEntry // every index applied anywhere: its term and batch
	images    map[uint64]string   // canonical image after each index
	leaders   map[uint64]uint64   // term -> its leader
	acked     []simAck            // acknowledged changes' entries
	pidRanges [][2]int64          // producer ids handed out and acknowledged: [first, end)
	stats     simStats
	err       error    // first invariant failure
	trace     []string // kept when tracing
	tracing   bool
}

func simSeedParams(rng *rand.Rand, steps int) simParams {
	return simParams{
		voters:     []int{3, 5}[rng.IntN(2)],
		observers:  rng.IntN(3),
		steps:      steps,
		dropP:      rng.Float64() * 0.2,
		dupP:       rng.Float64() * 0.1,
		delayMax:   1 + rng.Int64N(3),
		crashP:     rng.Float64() * 0.06,
		partitionP: rng.Float64() * 0.06,
		opP:        0.2 + rng.Float64()*0.5,

		snapshotEvery: 2 + rng.Uint64N(8),
		keep:          rng.Uint64N(4),
	}
}

func newSim(seed uint64, steps int) *sim {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s := &sim{seed: seed, rng: rng, p: simSeedParams(rng, steps),
		history: map[uint64]simEntry{}, images: map[uint64]string{}, leaders: map[uint64]uint64{}}
	s.p0 = s.p
	s.group = make([]int, s.p.voters+s.p.observers)
	for i := range s.p.voters {
		s.ids = append(s.ids, uint64(i+1))
	}
	for i := range s.p.voters + s.p.observers {
		id := uint64(i + 1)
		disk := vfs.NewMemFS()
		if err := errors.Join(disk.MkdirAll("/data", 0o755), disk.SyncDir("/")); err != nil {
			panic(err)
		}
		s.nodes = append(s.nodes, &simNode{id: id, disk: disk})
	}
	return s
}

func (s *sim) logf(format string, args ...any) {
	if s.tracing {
		s.trace = append(s.trace, fmt.Sprintf("t%d ", s.now)+fmt.Sprintf(format, args...))
	}
}

// failf records the first invariant failure.
func (s *sim) failf(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("tick %d: "+format, append([]any{s.now}, args...)...)
	}
}

// simSM is a node's state machine as the simulator sees it: the core, with
// every applied entry checked against all ever applied.
type simSM struct {
	s *sim
	n *simNode
}

func (m simSM) applyEntry(index, term uint64, data []byte) error {
	if err := m.applyEntryImage(index, term, data); err != nil {
		return err
	}
	// A snapshot's write may fail the power (settle restarts the node).
	return m.n.core.maybeSnapshot()
}

func (m simSM) applyEntryImage(index, term uint64, data []byte) error {
	s, c := m.s, m.n.core
	if index != c.applied+1 {
		s.failf("node %d applied entry %d after %d", m.n.id, index, c.applied)
	}
	if e, ok := s.history[index]; !ok {
		s.history[index] = simEntry{term: term, data: bytes.Clone(data)}
	} else if e.term != term || !sameBatch(e.data, data) {
		s.failf("node %d applied entry %d of term %d; term %d (%d bytes) was applied there before", m.n.id, index, term, e.term, len(e.data))
	}
	if err := c.applyEntryImage(index, term, data); err != nil {
		s.failf("node %d: committed entry %d does not apply: %v", m.n.id, index, err)
		return err
	}
	s.checkImage(m.n, "applied", index, c.image)
	return nil
}

// checkImage checks n's image at index against every other image seen
// there, applied, restored or installed.
func (s *sim) checkImage(n *simNode, what string, index uint64, im *Image) {
	canon := canonicalImage(im)
	if prev, ok := s.images[index]; !ok {
		s.images[index] = canon
	} else if prev != canon {
		s.failf("node %d image %s at %d:\n%s\nanother node's:\n%s", n.id, what, index, canon, prev)
	}
}

func (m simSM) applySnapshot(snap *raftpb.Snapshot) error {
	if err := m.n.core.applySnapshot(snap); err != nil {
		m.s.failf("node %d: %v", m.n.id, err)
		return err
	}
	m.s.stats.installs++
	m.n.installs++
	m.s.logf("node %d installs snapshot %d", m.n.id, snap.GetMetadata().GetIndex())
	m.s.checkImage(m.n, "installed", m.n.core.applied, m.n.core.image)
	return nil
}
func (m simSM) leaderChanged(lead uint64) { m.n.core.leaderChanged(lead) }

// canonicalImage is an image's content, without the node's view of who
// the controller is.
func canonicalImage(im *Image) string {
	c := *im
	c.ControllerID = 0
	return formatImage(&c)
}

// simNet is a node's network: sends go into the simulator's queue.
type simNet struct {
	s    *sim
	from uint64
}

func (n simNet) Send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		n.s.send(simMsg{from: n.from, to: m.GetTo(), raft: m})
	}
}

// Call is not used: the simulator carries forwarded calls itself, as
// messages, since a node never blocks in it.
func (simNet) Call(context.Context, int32, kmsg.Request) (kmsg.Response, error) {
	panic("simNet.Call: the simulator forwards changes as messages")
}

// send queues m with the network's faults: lost across a partition or at
// random, sometimes duplicated, each copy delayed 1..delayMax ticks. The
// sender hears what the transport would tell it: a peer across a
// partition is unreachable, and a snapshot went out or was dropped.
func (s *sim) send(m simMsg) {
	partitioned := s.group[m.from-1] != s.group[m.to-1]
	lost := partitioned || s.rng.Float64() < s.p.dropP
	switch {
	case m.raft != nil && m.raft.GetType() == raftpb.MsgSnap:
		// Written to the connection and lost after it, the transport
		// reports it sent.
		s.reportBack(m, &simReport{snap: true, ok: !partitioned && (!lost || s.rng.IntN(2) == 0)})
	case m.raft != nil && partitioned:
		s.reportBack(m, &simReport{})
	}
	if lost {
		return
	}
	copies := 1
	if s.rng.Float64() < s.p.dupP {
		copies = 2
	}
	for range copies {
		c := m
		if m.raft != nil {
			c.raft = proto.Clone(m.raft).(*raftpb.Message)
		}
		c.at = s.now + 1 + s.rng.Int64N(s.p.delayMax)
		s.seq++
		c.seq = s.seq
		s.queue = append(s.queue, c)
	}
}

// reportBack queues r for m's sender, for the next tick.
func (s *sim) reportBack(m simMsg, r *simReport) {
	s.seq++
	s.queue = append(s.queue, simMsg{at: s.now + 1, seq: s.seq, from: m.to, to: m.from, report: r})
}

// openStore opens the raft log on disk.
func (s *sim) openStore(fsys vfs.FS, id uint64) (*rlStore, error) {
	st := &rlStore{fs: fsys, dir: "/data", id: id, voters: s.ids, keep: s.p.keep}
	return st, st.tryOpen()
}

func (s *sim) start(n *simNode) {
	n.powerFailAt, n.lostPower = 0, nil
	var err error
	if n.store, err = s.openStore(vfs.Inject(n.disk, n.inject), n.id); err != nil {
		s.failf("open node %d: %v", n.id, err)
		return
	}
	b := Broker{ID: nodeOfRaftID(n.id), Host: "sim", Port: int32(n.id)}
	publish := func(prev, next *Image) {}
	if s.isObserver(n) {
		publish = func(prev, next *Image) {
			if next.Offset != prev.Offset {
				s.stats.observed++
				s.checkImage(n, "observed", n.core.applied, next)
			}
		}
	}
	n.core = &core{
		storage: simStorage{n.store.rl, s, n},
		self:    b,
		plan: planner{topicPartitionsMax: 8, brokerPartitionsMax: DefaultBrokerPartitionsMax, topicsMax: DefaultTopicsMax, random: func(p []byte) {
			for i := range p {
				p[i] = byte(s.rng.Uint32())
			}
		}},
		nowMs:         func() int64 { return s.now * 100 },
		publish:       publish,
		log:           quietLogger(),
		image:         emptyImage(-1),
		snapshotEvery: s.p.snapshotEvery,
	}
	if err := n.core.restore(n.store.rl); err != nil {
		s.failf("node %d: restore: %v", n.id, err)
		return
	}
	if n.core.applied > 0 {
		s.checkImage(n, "restored", n.core.applied, n.core.image)
	}
	if s.isObserver(n) {
		var voters []int32
		for _, id := range s.ids {
			voters = append(voters, nodeOfRaftID(id))
		}
		n.obs = newObserver(n.core, simStorage{n.store.rl, s, n}, voters)
		n.up, n.calls, n.pids, n.fetching = true, map[uint64]simOp{}, pidBlock{}, simFetch{}
		s.logf("observer %d up", n.id)
		s.observerFailed(n, n.obs.replay())
		return
	}
	n.node, err = newRaftNode(nodeConfig{ID: n.id, Voters: s.ids, Storage: simStorage{n.store.rl, s, n}, Network: simNet{s, n.id},
		Applied: n.core.applied, Logger: quietLogger()}, simSM{s, n})
	if err != nil {
		s.failf("start node %d: %v", n.id, err)
		return
	}
	n.core.node = n.node
	n.up, n.calls, n.pids = true, map[uint64]simOp{}, pidBlock{}
	s.logf("node %d up", n.id)
	s.settle(n)
}

// settle runs n's Ready loop and the core's planning; a power failure
// inside a write takes the node down.
func (s *sim) settle(n *simNode) {
	if n.node == nil {
		return // an observer
	}
	err := n.node.settle(n.core.pump)
	if depth := len(n.core.inflight); depth > 1 {
		s.stats.pipelined++
		s.stats.deepest = max(s.stats.deepest, depth)
	}
	switch {
	case err == nil:
	case n.lostPower != nil:
		s.stats.tornWrites++
		s.crash(n)
	case s.err == nil:
		s.failf("node %d: %v", n.id, err)
	}
}

// crash takes n down: its disk keeps only what was durable, and its
// clients' changes in flight are gone.
func (s *sim) crash(n *simNode) {

	s.stats.crashes++
	n.core.fail(errCrashed)
	n.up, n.node, n.core, n.calls, n.store, n.obs = false, nil, nil, nil, nil, nil
	disk := n.lostPower
	if disk == nil {
		disk = n.disk.CrashClone()
	}
	n.disk = disk
	n.downUntil = s.now + 1 + s.rng.Int64N(30)
}

func (s *sim) isLeader(n *simNode) bool {
	return n.up && n.node != nil && n.node.rn.BasicStatus().RaftState == raft.StateLeader
}

func (s *sim) isObserver(n *simNode) bool { return n.id > uint64(len(s.ids)) }

// leadOf is the raft leader node n knows (raft.None: none).
func (s *sim) leadOf(n *simNode) uint64 {
	if n.obs == nil {
		return n.node.lead
	}
	if n.obs.lead < 0 {
		return raft.None
	}
	return RaftID(n.obs.lead)
}

// observe sends up observer n's next fetch, unless one is in flight and
// not yet given up on (the network may have lost it or its answer).
func (s *sim) observe(n *simNode) {
	if n.fetching.id != 0 {
		if s.now < n.fetchDue {
			return
		}
		s.logf("observer %d gives up its fetch %d from %d", n.id, n.fetching.id, n.fetchTo)
		n.obs.failed(n.fetchTo)
	}
	to, index := n.obs.target()
	s.seq++
	n.fetching, n.fetchTo, n.fetchDue = simFetch{id: s.seq, index: index, clusterID: n.core.image.ClusterID}, to, s.now+2*s.p.delayMax+2
	f := n.fetching
	s.send(simMsg{from: n.id, to: RaftID(to), fetch: &f})
}

// serveFetch answers an observer's fetch at voter n as serveFetch does,
// without waiting, through the wire encoding.
func (s *sim) serveFetch(n *simNode, m simMsg) {
	lead, resp, err := fetchAnswer(n.store.rl, n.core.image, n.node.lead, m.fetch.index, m.fetch.clusterID)
	if err != nil {
		s.failf("node %d: fetch from %d: %v", n.id, m.fetch.index, err)
		return
	}
	wire, err := proto.Marshal(resp)
	if err != nil {
		s.failf("node %d: fetch answer: %v", n.id, err)
		return
	}
	resp = &raftpb.Message{}
	if err := proto.Unmarshal(wire, resp); err != nil {
		s.failf("node %d: fetch answer: %v", n.id, err)
		return
	}
	f := *m.fetch
	f.lead, f.resp = lead, resp
	s.send(simMsg{from: n.id, to: m.from, fetch: &f})
}

// fetchDone hands observer n the answer to its fetch in flight; other
// answers (duplicates, given up on) are dropped.
func (s *sim) fetchDone(n *simNode, m simMsg) {
	if m.fetch.id != n.fetching.id {
		return
	}
	n.fetching = simFetch{}
	snap := m.fetch.resp.GetSnapshot() != nil && m.fetch.index == n.core.applied+1
	s.logf("observer %d: fetch from %d at %d: %d entries, snapshot %v, lead %d", n.id, m.from, m.fetch.index, len(m.fetch.resp.GetEntries()), snap, m.fetch.lead)
	if !s.observerFailed(n, n.obs.handle(nodeOfRaftID(m.from), m.fetch.lead, m.fetch.index, m.fetch.resp)) && snap {
		s.stats.observerSnaps++
	}
}

// observerFailed takes observer n down when err is its power failing in
// a write, and fails the run on any other error.
func (s *sim) observerFailed(n *simNode, err error) bool {
	switch {
	case err == nil:
		return false
	case n.lostPower != nil:
		s.stats.tornWrites++
		s.crash(n)
	default:
		s.failf("observer %d: %v", n.id, err)
	}
	return true
}

// randomOp is a random client change.
func (s *sim) randomOp() simOp {
	return simOp{kind: s.rng.IntN(3), topic: fmt.Sprint("t", s.rng.IntN(6)), n: 1 + s.rng.Int64N(300)}
}

// clientOp makes a change at node n as Controller does: on the leader
// through its core; elsewhere producer ids from n's block, or the change
// forwarded as the Kafka request to the leader n knows.
func (s *sim) clientOp(n *simNode, op simOp) {
	if s.isLeader(n) {
		p := &proposal{}
		switch op.kind {
		case simCreate:
			p.plan = func(im *Image) ([]record, error) {
				return n.core.plan.createTopic(im, CreateTopic{Name: op.topic, Partitions: 2, ReplicationFactor: 1}, 1, 1)
			}
		case simDelete:
			p.plan = func(im *Image) ([]record, error) { return n.core.plan.deleteTopic(im, op.topic) }
		case simProducerIDs:
			p.producerIDs = op.n
		}
		p.done = func(res changeResult, err error) {
			s.logf("node %d local op %+v: entry %d/%d: %v", n.id, op, p.index, p.term, err)
			s.stats.proposalDone(p, err)
			if err != nil {
				return
			}
			if p.index > 0 {
				s.acked = append(s.acked, simAck{p.index, p.term})
			}
			if op.kind == simProducerIDs {
				s.handedOut(res.firstProducerID, res.firstProducerID+op.n)
			}
		}
		n.core.submit(p)
		return
	}
	if op.kind == simProducerIDs {
		if first, ok := n.pids.take(op.n); ok {
			s.logf("node %d serves producer ids %d+%d from its block", n.id, first, op.n)
			return
		}
	}
	lead := s.leadOf(n)
	if lead == raft.None {
		s.logf("node %d op %+v: no controller known", n.id, op)
		return // NOT_CONTROLLER to the client
	}
	var req kmsg.Request
	switch op.kind {
	case simCreate:
		req = createTopicsRequest(CreateTopic{Name: op.topic}, 2, 1)
	case simDelete:
		req = deleteTopicsRequest(op.topic)
	case simProducerIDs:
		req = allocateProducerIDsRequest(int32(n.id))
	}
	s.logf("node %d forwards op %+v to %d", n.id, op, lead)
	s.seq++
	s.stats.forwarded++
	n.calls[s.seq] = op
	s.send(simMsg{from: n.id, to: lead, call: &simCall{id: s.seq, req: req}})
}

// handedOut records acknowledged producer ids [first, end), which no other
// acknowledgement may overlap.
func (s *sim) handedOut(first, end int64) {
	for _, r := range s.pidRanges {
		if first < r[1] && r[0] < end {
			s.failf("producer ids [%d, %d) handed out again: [%d, %d) overlaps", r[0], r[1], first, end)
		}
	}
	s.pidRanges = append(s.pidRanges, [2]int64{first, end})
}

// serveCall runs a forwarded request at node n as the controller's side
// does: its changes one after another, then the response goes back.
func (s *sim) serveCall(n *simNode, m simMsg) {
	req, err := wireRequest(m.call.req)
	if err != nil {
		s.failf("request does not round-trip: %v", err)
		return
	}
	changes, resp, err := n.core.plan.serveRequest(req)
	if err != nil {
		s.failf("node %d cannot serve %T: %v", n.id, req, err)
		return
	}
	var next func(i int)
	next = func(i int) {
		if i == len(changes) {
			s.send(simMsg{from: n.id, to: m.from, call: &simCall{id: m.call.id, resp: resp}})
			return
		}
		sc := changes[i]
		sc.p.done = func(res changeResult, err error) {
			s.logf("node %d serves %T for %d: entry %d/%d: %v", n.id, req, m.from, sc.p.index, sc.p.term, err)
			s.stats.proposalDone(sc.p, err)
			if err == nil && sc.p.index > 0 {
				s.acked = append(s.acked, simAck{sc.p.index, sc.p.term})
			}
			sc.answer(res, err)
			next(i + 1)
		}
		n.core.submit(sc.p)
	}
	next(0)
}

// callDone takes a forwarded call's response back at the node that sent it.
func (s *sim) callDone(n *simNode, m simMsg) {
	op, ok := n.calls[m.call.id]
	if !ok {
		return // a duplicate, or the node restarted since
	}
	delete(n.calls, m.call.id)
	resp, err := wireResponse(m.call.resp)
	if err != nil {
		s.failf("response does not round-trip: %v", err)
		return
	}
	switch op.kind {
	case simCreate:
		_, err = createTopicsResult(resp)
	case simDelete:
		err = deleteTopicsResult(resp)
	case simProducerIDs:
		var start, end int64
		if start, end, err = allocateProducerIDsResult(resp); err == nil {
			s.handedOut(start, end)
			n.pids = pidBlock{next: start, end: end}
			n.pids.take(op.n)
		}
	}
	s.logf("node %d forwarded op %+v: %v", n.id, op, err)
}

func (s *sim) deliver(m simMsg) {
	n := s.nodes[m.to-1]
	if !n.up {
		return
	}
	if r := m.report; r != nil {
		if r.snap {
			n.node.reportSnapshot(m.from, r.ok)
		} else {
			n.node.reportUnreachable(m.from)
		}
		s.settle(n)
		return
	}
	if s.group[m.from-1] != s.group[m.to-1] {
		return
	}
	switch {
	case m.raft != nil:
		if err := n.node.step(m.raft); err != nil {
			s.failf("node %d: %v", n.id, err)
		}
	case m.fetch != nil && m.fetch.resp == nil:
		s.serveFetch(n, m)
	case m.fetch != nil:
		s.fetchDone(n, m)
	case m.call.resp == nil:
		s.serveCall(n, m)
	default:
		s.callDone(n, m)
	}
	if n.up {
		s.settle(n)
	}
}

// tick advances the clock: every node ticks, then the messages due arrive.
func (s *sim) tick() {
	s.now++
	for _, n := range s.nodes {
		switch {
		case n.up && n.obs != nil:
			s.observe(n)
		case n.up:
			n.node.tick()
			s.settle(n)
		}
	}
	slices.SortFunc(s.queue, func(a, b simMsg) int { return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.seq, b.seq)) })
	due := 0
	for due < len(s.queue) && s.queue[due].at <= s.now {
		due++
	}
	batch := slices.Clone(s.queue[:due])
	s.queue = slices.Delete(s.queue, 0, due)
	for _, m := range batch {
		s.deliver(m)
	}
}

// faults injects this step's random crashes, restarts and partitions.
func (s *sim) faults() {
	if s.rng.Float64() < s.p.crashP {
		n := s.nodes[s.rng.IntN(len(s.nodes))]
		if n.up {
			if s.rng.IntN(2) == 0 {
				s.crash(n)
			} else {
				n.powerFailAt = 1 + s.rng.IntN(20)
			}
		}
	}
	for _, n := range s.nodes {
		if !n.up && n.downUntil <= s.now {
			s.start(n)
		}
	}
	if s.rng.Float64() < s.p.partitionP {
		for i := range s.group {
			s.group[i] = 0
			if s.rng.IntN(3) == 0 {
				s.group[i] = 1
			}
		}
		s.logf("partition %v", s.group)
		s.stats.partitions++
	}
}

// check verifies the invariants that must hold after every step.
func (s *sim) check() {
	for _, n := range s.nodes {
		if !s.isLeader(n) {
			continue
		}
		term := n.node.rn.BasicStatus().GetTerm()
		if l, ok := s.leaders[term]; ok && l != n.id {
			s.failf("nodes %d and %d both lead term %d", l, n.id, term)
		}
		s.leaders[term] = n.id
		for _, a := range s.acked {
			if a.term > term {
				continue
			}
			t, err := n.store.rl.Term(a.index)
			if errors.Is(err, raft.ErrCompacted) {
				continue // in the snapshot, of committed entries only
			}
			if err != nil || t != a.term {
				s.failf("leader %d of term %d lacks acknowledged entry %d of term %d (has term %d, %v)", n.id, term, a.index, a.term, t, err)
			}
		}
	}
}

// converged reports whether every node is up and follows the one leader,
// and all have applied its whole log, which ends with an entry of its term.
func (s *sim) converged() bool {
	var leader *simNode
	for _, n := range s.nodes {
		if !n.up {
			return false
		}
		if s.isLeader(n) {
			leader = n
		}
	}
	if leader == nil {
		return false
	}
	last, _ := leader.store.rl.LastIndex()
	lastTerm, _ := leader.store.rl.Term(last)
	if lastTerm != leader.node.rn.BasicStatus().GetTerm() {
		return false
	}
	for _, n := range s.nodes {
		if n.core.applied != last || s.leadOf(n) != leader.id {
			return false
		}
	}
	return true
}

// run is the safety phase, then the liveness phase.
func (s *sim) run() error {
	for _, n := range s.nodes {
		s.start(n)
	}
	for range s.p.steps {
		s.tick()
		if s.rng.Float64() < s.p.opP {
			// A burst of changes at one node: at the leader they are
			// planned on one another and proposed together.
			if n := s.nodes[s.rng.IntN(len(s.nodes))]; n.up {
				for range 1 + s.rng.IntN(4) {
					s.clientOp(n, s.randomOp())
				}
				s.settle(n)
			}
		}
		s.faults()
		s.check()
		if s.err != nil {
			return s.err
		}
	}
	// Liveness: heal, stop losing messages and crashing, restart everyone.
	s.p.dropP, s.p.dupP = 0, 0
	clear(s.group)
	for _, n := range s.nodes {
		if n.up {
			n.powerFailAt = 0
		} else {
			s.start(n)
		}
	}
	const convergeTicks = 300
	for i := 0; !s.converged(); i++ {
		if i == convergeTicks {
			return fmt.Errorf("no convergence %d ticks after healing", convergeTicks)
		}
		s.tick()
		s.check()
		if s.err != nil {
			return s.err
		}
	}
	// A new topic, at any node, must commit. The client retries, as one
	// told NOT_CONTROLLER does: leadership may still move once (a leader
	// that was cut off steps down when it finds it did not hear from a
	// quorum).
	const retryTicks = 20
	acked := len(s.acked)
	n := s.nodes[s.rng.IntN(len(s.nodes))]
	for i := 0; len(s.acked) == acked; i++ {
		if i == convergeTicks {
			return fmt.Errorf("a change at node %d not committed %d ticks after convergence", n.id, convergeTicks)
		}
		if i%retryTicks == 0 {
			s.clientOp(n, simOp{kind: simCreate, topic: "live"})
			s.settle(n)
		}
		s.tick()
		s.check()
		if s.err != nil {
			return s.err
		}
	}
	for _, n := range s.nodes {
		s.checkReplay(n)
	}
	return s.err
}

// checkReplay rebuilds n's image from its disk after power loss now, as a
// restart does: from the snapshot, then the committed entries after it.
// It must be the image n holds (replay == live), or the one applied at
// the durable commit index when n has not applied that far yet.
func (s *sim) checkReplay(n *simNode) {
	st, err := s.openStore(n.disk.CrashClone(), n.id)
	if err != nil {
		s.failf("node %d: reopen: %v", n.id, err)
		return
	}
	defer st.dd.Close()
	c := &core{image: emptyImage(-1)}
	if err := c.restore(st.rl); err != nil {
		s.failf("node %d: replay: %v", n.id, err)
		return
	}
	hs, _, err := st.rl.InitialState()
	var ents []*raftpb.Entry
	if err == nil && hs.GetCommit() > c.applied {
		ents, err = st.rl.Entries(c.applied+1, hs.GetCommit()+1, math.MaxUint64)
	}
	im := c.image
	for _, e := range ents {
		var recs []record
		var last int64
		if recs, err = entryRecords(e); err == nil {
			if _, last, err = st.rl.entryOffsets(e.GetIndex()); err == nil {
				im, err = im.apply(recs, last)
			}
		}
		if err != nil {
			break
		}
	}
	if err != nil {
		s.failf("node %d: replay: %v", n.id, err)
		return
	}
	if live := canonicalImage(n.core.image); hs.GetCommit() == n.core.applied && canonicalImage(im) != live {
		s.failf("node %d replays to\n%s\nit holds\n%s", n.id, canonicalImage(im), live)
	}
	s.checkImage(n, "replayed", hs.GetCommit(), im)
}

// fingerprint sums up a run: everything applied and the clock.
func (s *sim) fingerprint() uint64 {
	h := fnv.New64a()
	fmt.Fprint(h, s.now, len(s.history))
	for i := uint64(1); i <= uint64(len(s.history)); i++ {
		e := s.history[i]
		fmt.Fprint(h, e.term)
		h.Write(e.data)
	}
	return h.Sum64()
}

// runSim runs one seed, its raft randomness seeded from it too.
// A panic (raft's on a log it finds corrupt) fails the seed.
func runSim(t *testing.T, seed uint64, steps int, tracing bool) (s *sim, err error) {
	cryptotest.SetGlobalRandom(t, seed)
	s = newSim(seed, steps)
	s.tracing = tracing
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("tick %d: panic: %v\n%s", s.now, r, debug.Stack())
		}
	}()
	return s, s.run()
}

func TestSim(t *testing.T) {
	seeds, steps, long := uint64(1000), 150, ""
	if os.Getenv("RIFFLE_LONG") != "" {
		seeds, steps, long = 100_000, 300, "RIFFLE_LONG=1 "
	}
	first := uint64(1)
	if v := os.Getenv("RIFFLE_SIM_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("RIFFLE_SIM_SEED=%q: %v", v, err)
		}
		first, seeds = seed, 1
	}
	var applied, acked, terms int
	var stats simStats
	for seed := first; seed < first+seeds; seed++ {
		s, err := runSim(t, seed, steps, seeds == 1)
		if err != nil {
			for _, line := range s.trace {
				t.Log(line)
			}
			t.Fatalf("seed %d (%+v): %v\nrerun: %sRIFFLE_SIM_SEED=%d go test ./quorum/ -run 'TestSim$' -v", seed, s.p0, err, long, seed)
		}
		applied += len(s.history)
		acked += len(s.acked)
		terms += len(s.leaders)
		stats.add(s.stats)
		if long != "" && (seed-first+1)%1000 == 0 {
			t.Logf("%d seeds passed", seed-first+1)
		}
	}
	t.Logf("%d seeds: %d entries committed, %d changes acknowledged, %d terms led, %+v", seeds, applied, acked, terms, stats)
	if acked == 0 {
		t.Error("no change was ever acknowledged: the workload does not reach the controller")
	}
	if seeds > 1 && (stats.installs == 0 || stats.tornWrites == 0 || stats.observed == 0 || stats.observerSnaps == 0) {
		t.Errorf("no snapshot was installed from a leader or by an observer, no entry observed, or no power failed inside a write: %+v", stats)
	}
	if seeds > 1 && (stats.pipelined == 0 || stats.deepest < 3) {
		t.Errorf("leaders never had several changes in flight: %+v", stats)
	}
}

// TestSimSnapshotCatchUp: a voter cut off while the others commit and
// compact their logs far past it is caught up by the leader's snapshot
// once the partition heals.
func TestSimSnapshotCatchUp(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		cryptotest.SetGlobalRandom(t, seed)
		s := newSim(seed, 0)
		s.p = simParams{voters: 3, steps: 100, delayMax: 1, opP: 0.5, snapshotEvery: 3, keep: 1}
		s.p0 = s.p
		s.group[2] = 1
		if err := s.run(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if cut := s.nodes[2]; cut.installs == 0 {
			t.Fatalf("seed %d: node 3 caught up over %d entries with %d snapshots", seed, len(s.history), cut.installs)
		}
	}
}

// TestSimDeterministic: a seed replays exactly, so a failing seed can be
// rerun and debugged.
func TestSimDeterministic(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		a, errA := runSim(t, seed, 150, false)
		b, errB := runSim(t, seed, 150, false)
		if fmt.Sprint(errA) != fmt.Sprint(errB) || a.fingerprint() != b.fingerprint() || a.now != b.now {
			t.Errorf("seed %d ran differently twice: %v/%v, %d/%d ticks", seed, errA, errB, a.now, b.now)
		}
	}
}

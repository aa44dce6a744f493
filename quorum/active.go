package quorum

import (
	"bytes"
	"fmt"
	"log/slog"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/riffle/riffle/segment"
)

// proposal is one change asked of the controller.
type proposal struct {
	// plan returns the records of the change, checked against the image
	// before it; nil when producerIDs or heartbeat is set.
	plan func(im *Image) ([]record, error)
	// producerIDs > 0 allocates that many producer ids from the leader's
	// reserved block, reserving a new block when it runs out.
	producerIDs int64
	// heartbeat, when set, is a broker's heartbeat: the active controller
	// touches its session and plans what it causes (brokerHeartbeat).
	heartbeat    *BrokerHeartbeat
	validateOnly bool
	// done is called once, on the node's goroutine, with the image after
	// the change (the would-be image when validateOnly) or the error.
	done func(res changeResult, err error)

	index, term uint64         // the entry proposed for the change
	data        []byte         // its batch
	offset      int64          // the image's offset once the entry applies, as planned
	first       int64          // the first producer id, when producerIDs > 0
	reply       HeartbeatReply // the answer, when heartbeat is set
	// after are the changes of no records planned while this one was the
	// newest in flight: they read its outcome (producer ids from the block
	// it reserves), so they are answered when it commits and fail with it.
	after []*proposal
}

// batchStoredFrom is where a batch's bytes stop depending on where it is
// stored: the metadata log sets its base offset and its leader epoch (the
// raft term) in front of it. It is segment's offset of the magic byte.
const batchStoredFrom = 16

// sameBatch reports whether a and b are the same batch (or both raft's
// empty entry), wherever stored.
func sameBatch(a, b []byte) bool {
	if len(a) <= batchStoredFrom || len(b) <= batchStoredFrom {
		return len(a) == 0 && len(b) == 0
	}
	return bytes.Equal(a[batchStoredFrom:], b[batchStoredFrom:])
}

type changeResult struct {
	image           *Image
	firstProducerID int64
	heartbeat       HeartbeatReply
}

// core is the controller on a raft node: it plans changes on the leader,
// proposes them, and applies committed entries to the image. Pure: time,
// randomness and the image's publication are given to it, and it runs on
// the node's goroutine (or the simulator's).
//
// Changes are pipelined as Kafka's controller does: a new leader plans
// only once applied == its last index and that entry is of its term (so
// committed); from then on, in that term, it plans each change against
// the speculative image (spec: the applied image with every entry it has
// in flight applied) and proposes it at once, without waiting for the
// entries before it to commit. Only the leader appends entries in its
// term, so every committed batch of the term was planned against exactly
// the image before it, and applying one cannot fail unless the log is
// corrupt. An entry of another term applied where one of ours was
// proposed ends the term's speculation: that change and all after it fail
// with ErrNotController, and the next term starts again from the applied
// image.
type core struct {
	node    *raftNode   // nil on an observer, which never leads
	storage raftStorage // the node's raft log, where snapshots go
	lead    uint64      // the raft leader as last told (leaderChanged)
	self    Broker
	plan    planner
	nowMs   func() int64
	publish func(prev, next *Image) // called on every new applied image, in order
	log     *slog.Logger

	image   *Image // applied
	applied uint64
	// snapshotEvery: a snapshot of the applied image is taken once it is
	// this many entries past the newest snapshot, at snapIndex.
	snapshotEvery uint64
	snapIndex     uint64
	pidNext       int64  // next producer id this leader serves; below image.ProducerIDsEnd unless a block is due
	pidTerm       uint64 // the term this node last started leading in (pidNext reset, spec valid); 0 after speculation ended
	waiting       []*proposal
	inflight      []*proposal // proposed in term pidTerm, in index order, consecutive
	inflightBytes int         // their batches' bytes, bounded under raft's uncommitted limit
	spec          *Image      // the image after every entry in flight applies; meaningful while any is
	// sessionTimeout > 0 makes the leader track broker sessions and fence
	// the brokers it stops hearing from (a cluster voter; 0 in the
	// simulation, whose brokers do not heartbeat).
	sessionTimeout time.Duration
	sessions       *sessions // reset when this node becomes leader
	// rebalanceEvery > 0 makes the leader run the automatic leader
	// rebalance (rebalanceLeaders) that often, the first time that long
	// after it became leader (auto.leader.rebalance.enable,
	// leader.imbalance.check.interval.ms).
	rebalanceEvery time.Duration
	nextRebalance  time.Time
}

// submit starts p: validateOnly at once against the applied image, any
// other change on the leader only (ErrNotController elsewhere).
func (c *core) submit(p *proposal) {
	if p.validateOnly {
		next, err := c.validate(p)
		p.done(changeResult{image: next}, err)
		return
	}
	if c.node == nil || c.node.rn.BasicStatus().RaftState != raft.StateLeader {
		p.done(changeResult{}, fmt.Errorf("node %d: %w", c.self.ID, ErrNotController))
		return
	}
	c.waiting = append(c.waiting, p)
}

func (c *core) validate(p *proposal) (*Image, error) {
	recs, err := p.plan(c.image)
	if err != nil || len(recs) == 0 {
		return c.image, err
	}
	return c.image.apply(recs, c.image.Offset)
}

// pump plans and proposes the next waiting change when the leader may;
// it runs after every Ready loop. Off the leader the waiting changes fail
// with ErrNotController (the one in flight waits for its index to apply).
// An error is the storage's: fatal.
func (c *core) pump() error {
	st := c.node.rn.BasicStatus()
	if st.RaftState != raft.StateLeader {
		// The speculation ends; the changes in flight wait for their
		// entries, which another leader may still commit.
		c.pidTerm = 0
		c.failWaiting(fmt.Errorf("node %d: %w", c.self.ID, ErrNotController))
		return nil
	}
	if c.pidTerm != st.GetTerm() {
		last, err := c.storage.LastIndex()
		if err != nil {
			return fmt.Errorf("raft log: %w", err)
		}
		lastTerm, err := c.storage.Term(last)
		if err != nil {
			return fmt.Errorf("raft log: term of %d: %w", last, err)
		}
		if c.applied != last || lastTerm != st.GetTerm() {
			return nil
		}
		c.pidTerm, c.pidNext = st.GetTerm(), c.image.ProducerIDsEnd
		c.resetSessions()
		c.nextRebalance = c.now().Add(c.rebalanceEvery)
		if recs := c.plan.startup(c.image, c.self); len(recs) > 0 {
			c.waiting = append([]*proposal{{
				plan: func(*Image) ([]record, error) { return recs, nil },
				done: func(_ changeResult, err error) {
					if err != nil {
						c.log.Warn("metadata: registering this controller failed; retried when next elected", "err", err)
					}
				},
			}}, c.waiting...)
		}
	}
	c.fenceStale()
	c.rebalance()
	// Every waiting change is proposed now, so they share the next Ready:
	// one fsync and one append message per follower. The bytes in flight
	// stay under raft's uncommitted limit, which would drop a proposal.
	for len(c.waiting) > 0 && c.inflightBytes <= raftUncommittedBytesMax-metadataBatchBytesMax {
		p := c.waiting[0]
		c.waiting[0] = nil
		c.waiting = c.waiting[1:]
		c.start(p)
	}
	return nil
}

// planImage is the image the leader plans the next change against: the
// applied one, or the speculative one while entries are in flight.
func (c *core) planImage() *Image {
	if len(c.inflight) > 0 {
		return c.spec
	}
	return c.image
}

// start plans p against the plan image and proposes its batch. A planning
// error ends p alone; a change of no records (or ids served from the
// reserved block) is done at once, or when the newest entry in flight
// commits, as its answer may rest on that entry.
func (c *core) start(p *proposal) {
	im := c.planImage()
	var recs []record
	var err error
	switch {
	case p.producerIDs > 0:
		recs, p.first, err = allocateProducerIDs(im, c.pidNext, p.producerIDs)
	case p.heartbeat != nil:
		recs, p.reply, err = c.heartbeat(im, *p.heartbeat)
	default:
		recs, err = p.plan(im)
	}
	if err == nil && len(recs) > 0 {
		var batch segment.Batch
		var next *Image
		if batch, next, err = buildBatch(im, recs, c.nowMs(), metadataBatchBytesMax); err == nil {
			p.data = batch.Bytes()
			p.index, p.term, err = c.node.propose(p.data)
		}
		if err == nil {
			if n := len(c.inflight); n > 0 && c.inflight[n-1].index+1 != p.index {
				panic(fmt.Sprintf("quorum: proposal at %d follows the one in flight at %d", p.index, c.inflight[n-1].index))
			}
			if p.producerIDs > 0 {
				c.pidNext = p.first + p.producerIDs
			}
			p.offset, c.spec = next.Offset, next
			c.inflight = append(c.inflight, p)
			c.inflightBytes += len(p.data)
			return
		}
	}
	if err != nil {
		p.done(changeResult{image: c.image}, err)
		return
	}
	if p.producerIDs > 0 {
		c.pidNext = p.first + p.producerIDs
	}
	if n := len(c.inflight); n > 0 {
		c.inflight[n-1].after = append(c.inflight[n-1].after, p)
		return
	}
	p.done(changeResult{image: c.image, firstProducerID: p.first, heartbeat: p.reply}, nil)
}

func (c *core) now() time.Time { return time.UnixMilli(c.nowMs()) }

// resetSessions forgets every session: as a new KRaft controller, this
// one gives every registered broker a fresh session (in fenceStale), as
// liveness is not in the log.
func (c *core) resetSessions() {
	if c.sessionTimeout > 0 {
		c.sessions = newSessions(c.sessionTimeout)
	}
}

// fenceStale queues the fencing of a broker whose session expired, when
// no change waits; one broker per change (fenceStale in brokers.go), the
// next on a later pump. It reads the plan image, so a fencing in flight
// is not queued again.
func (c *core) fenceStale() {
	if c.sessions == nil || len(c.waiting) > 0 {
		return
	}
	now := c.now()
	im := c.planImage()
	// A broker registered since this node became leader gets its session
	// here, so one that dies before its first heartbeat is fenced too.
	for _, b := range im.Brokers {
		if _, ok := c.sessions.last[b.ID]; !ok {
			c.sessions.touch(b.ID, now)
		}
	}
	recs := fenceStale(im, c.sessions, now)
	if len(recs) == 0 {
		return
	}
	c.waiting = append(c.waiting, &proposal{
		plan: func(*Image) ([]record, error) { return recs, nil },
		done: func(_ changeResult, err error) {
			if err != nil {
				c.log.Warn("metadata: fencing a broker whose session expired failed; retried", "err", err)
			}
		},
	})
}

// rebalance queues the automatic leader rebalance when it is due and no
// change waits; a rebalance electing nobody is no change.
func (c *core) rebalance() {
	if c.rebalanceEvery <= 0 || len(c.waiting) > 0 || c.now().Before(c.nextRebalance) {
		return
	}
	c.nextRebalance = c.now().Add(c.rebalanceEvery)
	c.waiting = append(c.waiting, &proposal{
		plan: func(im *Image) ([]record, error) { return rebalanceLeaders(im), nil },
		done: func(_ changeResult, err error) {
			if err != nil {
				c.log.Warn("metadata: the automatic leader rebalance failed; retried at the next check", "err", err)
			}
		},
	})
}

// heartbeat touches the heartbeating broker's session and plans what the
// heartbeat causes against im; a broker told to shut down has no session
// left.
func (c *core) heartbeat(im *Image, hb BrokerHeartbeat) ([]record, HeartbeatReply, error) {
	if c.sessions == nil {
		return nil, HeartbeatReply{}, fmt.Errorf("node %d tracks no broker sessions: %w", c.self.ID, ErrNotController)
	}
	recs, reply, err := brokerHeartbeat(im, hb)
	if err != nil {
		return nil, reply, err
	}
	c.sessions.touch(hb.ID, c.now())
	if reply.ShouldShutdown {
		c.sessions.forget(hb.ID)
	}
	return recs, reply, nil
}

func (c *core) failWaiting(err error) {
	for _, p := range c.waiting {
		p.done(changeResult{}, err)
	}
	c.waiting = nil
}

// failInflight ends the changes in flight from the i-th on with err, and
// with them the term's speculation.
func (c *core) failInflight(i int, err error) {
	lost := c.inflight[i:]
	c.inflight = c.inflight[:i]
	c.pidTerm = 0
	for _, p := range lost {
		c.inflightBytes -= len(p.data)
		p.done(changeResult{}, err)
		for _, a := range p.after {
			a.done(changeResult{}, err)
		}
	}
}

// fail ends every change with err: the node stopped.
func (c *core) fail(err error) {
	c.failInflight(0, err)
	c.failWaiting(err)
}

func (c *core) controllerID() int32 {
	if c.lead == raft.None {
		return -1
	}
	return nodeOfRaftID(c.lead)
}

// restore starts the core from the storage's snapshot (none: the empty
// image): raft then hands over the committed entries after it.
func (c *core) restore(st raft.Storage) error {
	snap, err := st.Snapshot()
	if err != nil || raft.IsEmptySnap(snap) {
		return err
	}
	im, err := decodeImage(snap.GetData(), -1)
	if err != nil {
		return fmt.Errorf("snapshot at %d: %w", snap.GetMetadata().GetIndex(), err)
	}
	c.image, c.applied, c.snapIndex = im, snap.GetMetadata().GetIndex(), snap.GetMetadata().GetIndex()
	return nil
}

func (c *core) applyEntry(index, term uint64, data []byte) error {
	if err := c.applyEntryImage(index, term, data); err != nil {
		return err
	}
	return c.maybeSnapshot()
}

// maybeSnapshot snapshots the applied image when it is snapshotEvery
// entries past the last snapshot; the raft log is trimmed behind it.
func (c *core) maybeSnapshot() error {
	if c.snapshotEvery == 0 || c.applied-c.snapIndex < c.snapshotEvery {
		return nil
	}
	if err := c.storage.CreateSnapshot(c.applied, encodeImage(c.image)); err != nil {
		return fmt.Errorf("snapshot at %d: %w", c.applied, err)
	}
	c.snapIndex = c.applied
	return nil
}

func (c *core) applyEntryImage(index, term uint64, data []byte) error {
	prev := c.image
	var next *Image
	if len(data) == 0 {
		// raft's own entry (a new leader's first): stored as one NoOp
		// record, so it takes one offset on every node.
		im := *prev
		im.Offset++
		next = &im
	} else {
		_, recs, err := decodeBatch(data)
		if err != nil {
			return err
		}
		if next, err = prev.apply(recs, prev.Offset+int64(len(recs))); err != nil {
			return err
		}
	}
	next.ControllerID = c.controllerID()
	c.image, c.applied = next, index
	c.publish(prev, next)
	if len(c.inflight) == 0 || index < c.inflight[0].index {
		return nil
	}
	p := c.inflight[0]
	if index != p.index || term != p.term {
		// The log after this entry is the new leader's: every change in
		// flight is lost.
		c.failInflight(0, fmt.Errorf("node %d: entry %d of term %d was replaced by term %d: %w", c.self.ID, p.index, p.term, term, ErrNotController))
		return nil
	}
	if !sameBatch(data, p.data) {
		panic(fmt.Sprintf("quorum: entry %d of term %d is not the batch proposed there", index, term))
	}
	if next.Offset != p.offset {
		panic(fmt.Sprintf("quorum: entry %d of term %d applied at offset %d, planned at %d", index, term, next.Offset, p.offset))
	}
	c.inflight[0] = nil
	c.inflight = c.inflight[1:]
	c.inflightBytes -= len(p.data)
	p.done(changeResult{image: next, firstProducerID: p.first, heartbeat: p.reply}, nil)
	for _, a := range p.after {
		a.done(changeResult{image: next, firstProducerID: a.first, heartbeat: a.reply}, nil)
	}
	return nil
}

// applySnapshot installs a snapshot the leader sent (the node saved it):
// its image replaces the applied one. A change in flight whose entry it
// covers has an unknown outcome: the entry is not at hand to compare.
func (c *core) applySnapshot(snap *raftpb.Snapshot) error {
	index := snap.GetMetadata().GetIndex()
	if index <= c.applied {
		return fmt.Errorf("snapshot at %d is not past the applied entry %d", index, c.applied)
	}
	next, err := decodeImage(snap.GetData(), c.controllerID())
	if err != nil {
		return err
	}
	prev := c.image
	c.image, c.applied, c.snapIndex = next, index, index
	c.publish(prev, next)
	covered := 0
	for covered < len(c.inflight) && c.inflight[covered].index <= index {
		covered++
	}
	if covered > 0 {
		// Those after the snapshot (if any) are lost too: the leader that
		// sent it leads another term.
		c.failInflight(0, fmt.Errorf("node %d: entries %d to %d are in a snapshot from the leader or after it: %w", c.self.ID, c.inflight[0].index, c.inflight[len(c.inflight)-1].index, errOutcomeUnknown))
	}
	return nil
}

// leaderChanged publishes the image again naming the new controller.
func (c *core) leaderChanged(lead uint64) {
	c.lead = lead
	prev := c.image
	im := *prev
	im.ControllerID = c.controllerID()
	c.image = &im
	c.publish(prev, &im)
}

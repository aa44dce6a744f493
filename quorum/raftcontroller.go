package quorum

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/raft/v3/raftpb"
)

// changeTimeout bounds a change on a raft node, forwarding included; past
// it the change's outcome is unknown.
const changeTimeout = 30 * time.Second

// raftInboundMax bounds the raft messages waiting for the node's
// goroutine; more are dropped, as a lossy network would.
const raftInboundMax = 1024

// DefaultRaftSnapshotEvery is how many entries the applied image moves
// past the newest snapshot before the next one is taken (and the raft log
// trimmed behind it).
const DefaultRaftSnapshotEvery = 4096

// raftOptions are what a controller on a raft node runs on: the voter ids,
// the raft log and the network to the other voters.
type raftOptions struct {
	voters        []uint64 // raft ids (RaftID) of the voters
	storage       raftStorage
	network       peerNetwork
	tick          time.Duration // 0: DefaultRaftTick
	snapshotEvery uint64        // 0: DefaultRaftSnapshotEvery
	// sessionTimeout > 0: the leader fences brokers not heard from for
	// that long (core.sessionTimeout).
	sessionTimeout time.Duration
	// rebalanceEvery > 0: the leader runs the automatic leader rebalance
	// that often (core.rebalanceEvery).
	rebalanceEvery time.Duration
}

// raftRunner drives a controller's raft node on one goroutine.
type raftRunner struct {
	c       *Controller
	node    *raftNode
	core    *core
	net     peerNetwork
	self    int32
	inbound chan *raftpb.Message
	tasks   chan func()
	stop    chan struct{}
	stopNow sync.Once
	stopped chan struct{} // closed when the node's goroutine has ended
	err     error         // why it ended; set before stopped closes
	lead    atomic.Uint64 // raft leader as of the last Ready, 0 while unknown
	kick    chan struct{} // wakes the delivering goroutine

	reportMu    sync.Mutex // guards the reports for the node's goroutine
	unreachable map[uint64]bool
	snapReports []snapReport
	reportKick  chan struct{} // wakes the node's goroutine for reports

	changed chan struct{} // closed and replaced on each published image; guarded by c.mu

	pidMu    sync.Mutex // one forwarded producer id block at a time; guards pidBlock
	pidBlock pidBlock

	storage   raftStorage    // the raft log, read by observers' fetches too
	observers *observerTable // the observers that fetched from this voter
	obs       *observer      // set on an observer, which runs no raft node
}

// snapReport is whether a snapshot sent to a peer went out.
type snapReport struct {
	to uint64
	ok bool
}

// pidBlock is a block [next, end) of producer ids the active controller
// handed a node that is not it, served from memory.
type pidBlock struct{ next, end int64 }

// take serves n ids from the block, if it holds them.
func (b *pidBlock) take(n int64) (first int64, ok bool) {
	if b.next+n > b.end {
		return 0, false
	}
	first = b.next
	b.next += n
	return first, true
}

// openRaft starts a controller on a raft node: it replays the committed
// entries of storage into the image, then runs the node. The daemon will
// call it once the raft log and the transport exist.
func openRaft(opts Options, ro raftOptions) (*Controller, error) {
	ro = ro.withDefaults()
	r, err := newRaftRunner(opts, ro)
	if err != nil {
		return nil, err
	}
	r.node, err = newRaftNode(nodeConfig{ID: RaftID(opts.NodeID), Voters: ro.voters, Storage: ro.storage,
		Network: ro.network, Applied: r.core.applied, Logger: opts.Logger}, r.core)
	if err != nil {
		return nil, err
	}
	r.core.node = r.node
	// raft hands over the committed entries after the snapshot in the
	// first Readys.
	if err := r.node.handleReady(); err != nil {
		return nil, fmt.Errorf("quorum: replay: %w", err)
	}
	go r.deliverLoop()
	go r.loop(ro.tick)
	return r.c, nil
}

// withDefaults fills in the zero tick and snapshot interval.
func (ro raftOptions) withDefaults() raftOptions {
	if ro.tick == 0 {
		ro.tick = DefaultRaftTick
	}
	if ro.snapshotEvery == 0 {
		ro.snapshotEvery = DefaultRaftSnapshotEvery
	}
	return ro
}

// newRaftRunner makes a controller's runner and its core, restored from
// the storage's snapshot; the caller adds the raft node or the observer.
// ro has its defaults.
func newRaftRunner(opts Options, ro raftOptions) (*raftRunner, error) {
	opts, err := opts.check()
	if err != nil {
		return nil, err
	}
	c := &Controller{plan: newPlanner(opts)}
	r := &raftRunner{
		c:       c,
		net:     ro.network,
		self:    opts.NodeID,
		inbound: make(chan *raftpb.Message, raftInboundMax),
		tasks:   make(chan func()),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
		kick:    make(chan struct{}, 1),
		changed: make(chan struct{}),

		unreachable: map[uint64]bool{},
		reportKick:  make(chan struct{}, 1),
		storage:     ro.storage,
		observers:   newObserverTable(ro.sessionTimeout),
	}
	c.raft = r
	im := emptyImage(-1)
	c.image.Store(im)
	r.core = &core{
		storage:       ro.storage,
		self:          opts.Broker,
		plan:          c.plan,
		nowMs:         func() int64 { return time.Now().UnixMilli() },
		publish:       r.publish,
		log:           opts.Logger,
		image:         im,
		snapshotEvery: ro.snapshotEvery,

		sessionTimeout: ro.sessionTimeout,
		rebalanceEvery: ro.rebalanceEvery,
	}
	if err := r.core.restore(ro.storage); err != nil {
		return nil, fmt.Errorf("quorum: restore: %w", err)
	}
	c.image.Store(r.core.image)
	return r, nil
}

func (r *raftRunner) loop(tick time.Duration) {
	err := r.node.run(r.stop, tick, r.inbound, r.tasks, r.reportKick, r.runReports, func() error {
		r.lead.Store(r.node.lead)
		return r.core.pump()
	})
	if err == nil {
		err = ErrClosed
	} else {
		r.core.log.Error("metadata quorum node stopped", "err", err)
	}
	r.core.fail(err)
	r.err = err
	close(r.stopped)
}

// runReports hands the transport's reports to raft, on the node's
// goroutine.
func (r *raftRunner) runReports() {
	r.reportMu.Lock()
	unreachable, snaps := r.unreachable, r.snapReports
	r.unreachable, r.snapReports = map[uint64]bool{}, nil
	r.reportMu.Unlock()
	for id := range unreachable {
		r.node.reportUnreachable(id)
	}
	for _, s := range snaps {
		r.node.reportSnapshot(s.to, s.ok)
	}
}

// report queues a report for the node's goroutine; it never blocks, and
// keeps every snapshot report (raft waits for one).
func (r *raftRunner) report(add func()) {
	r.reportMu.Lock()
	add()
	r.reportMu.Unlock()
	select {
	case r.reportKick <- struct{}{}:
	default:
	}
}

// publish makes next the controller's image and queues its delivery to
// the listeners; it runs on the node's goroutine.
func (r *raftRunner) publish(prev, next *Image) {
	c := r.c
	c.mu.Lock()
	c.image.Store(next)
	if len(c.listeners) > 0 {
		c.pending = append(c.pending, change{prev: prev, next: next, listeners: c.listeners})
	}
	close(r.changed)
	r.changed = make(chan struct{})
	c.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// deliverLoop delivers the changes no change method of this node waits
// for (those committed by other voters).
func (r *raftRunner) deliverLoop() {
	for {
		select {
		case <-r.kick:
			r.c.deliver()
		case <-r.stopped:
			return
		}
	}
}

// do runs p on the node's goroutine and waits for its outcome. Past ctx
// the change may still commit.
func (r *raftRunner) do(ctx context.Context, p *proposal) (changeResult, error) {
	type outcome struct {
		res changeResult
		err error
	}
	ch := make(chan outcome, 1)
	p.done = func(res changeResult, err error) { ch <- outcome{res, err} }
	select {
	case r.tasks <- func() { r.core.submit(p) }:
	case <-ctx.Done():
		return changeResult{}, fmt.Errorf("metadata change not started: %w", ctx.Err())
	case <-r.stopped:
		return changeResult{}, r.err
	}
	select {
	case o := <-ch:
		return o.res, o.err
	case <-ctx.Done():
		return changeResult{}, fmt.Errorf("metadata change outcome unknown: %w", ctx.Err())
	}
}

// waitImage returns the first image (the current one or a later) that ok
// accepts.
func (r *raftRunner) waitImage(ctx context.Context, ok func(im *Image) bool) (*Image, error) {
	for {
		r.c.mu.Lock()
		im, changed := r.c.image.Load(), r.changed
		r.c.mu.Unlock()
		if ok(im) {
			return im, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the change to apply here: %w", ctx.Err())
		case <-r.stopped:
			return nil, r.err
		}
	}
}

// call sends req to the active controller.
func (r *raftRunner) call(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	lead := r.lead.Load()
	if lead == 0 || lead == RaftID(r.self) {
		return nil, fmt.Errorf("node %d: no other controller known: %w", r.self, ErrNotController)
	}
	resp, err := r.net.Call(ctx, nodeOfRaftID(lead), req)
	if err != nil {
		return nil, fmt.Errorf("forward to controller %d: %w", nodeOfRaftID(lead), err)
	}
	return resp, nil
}

// change runs p here when this node is the active controller, else
// through forward.
func (r *raftRunner) change(p *proposal, forward func(ctx context.Context, r *raftRunner) (changeResult, error)) (changeResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), changeTimeout)
	defer cancel()
	res, err := r.do(ctx, p)
	if errors.Is(err, ErrNotController) {
		res, err = forward(ctx, r)
	}
	r.c.deliver()
	return res, err
}

// forwardCreateTopic forwards a topic creation, then waits until the topic
// is in this node's image and returns that image.
func (r *raftRunner) forwardCreateTopic(ctx context.Context, req CreateTopic, partitions int32, rf int16) (changeResult, error) {
	resp, err := r.call(ctx, createTopicsRequest(req, partitions, rf))
	if err != nil {
		return changeResult{}, err
	}
	id, err := createTopicsResult(resp)
	if err != nil {
		return changeResult{}, err
	}
	im, err := r.waitImage(ctx, func(im *Image) bool { return im.TopicByID(id) != nil })
	return changeResult{image: im}, err
}

// forwardAlterPartition forwards an ISR change, then waits until this
// node's image holds the partition epoch the controller answered (or no
// longer the partition).
func (r *raftRunner) forwardAlterPartition(ctx context.Context, req AlterPartition) (changeResult, error) {
	resp, err := r.call(ctx, alterPartitionRequest(req))
	if err != nil {
		return changeResult{}, err
	}
	epoch, err := alterPartitionResult(resp)
	if err != nil {
		return changeResult{}, err
	}
	im, err := r.waitImage(ctx, func(im *Image) bool {
		t := im.TopicByID(req.TopicID)
		return t == nil || int(req.Partition) >= len(t.Partitions) || t.Partitions[req.Partition].PartitionEpoch >= epoch
	})
	return changeResult{image: im}, err
}

// forwarded forwards req, reads its outcome with result, then waits until
// this node's image reaches the offset the controller's answer carries
// (appliedOffsetTag; none for a change that failed or only validated).
func (r *raftRunner) forwarded(ctx context.Context, req kmsg.Request, result func(kmsg.Response) error) (changeResult, error) {
	resp, err := r.call(ctx, req)
	if err != nil {
		return changeResult{}, err
	}
	if err := result(resp); err != nil {
		return changeResult{}, err
	}
	offset, ok := appliedOffset(resp)
	if !ok {
		return changeResult{}, nil
	}
	im, err := r.waitImage(ctx, func(im *Image) bool { return im.Offset >= offset })
	return changeResult{image: im}, err
}

// forwardElectLeaders forwards an ElectLeaders and returns its results
// once the elections are applied here.
func (r *raftRunner) forwardElectLeaders(ctx context.Context, electionType int8, partitions []TopicPartition) ([]ElectionResult, changeResult, error) {
	var results []ElectionResult
	res, err := r.forwarded(ctx, electLeadersRequest(electionType, partitions), func(resp kmsg.Response) error {
		var err error
		results, err = electLeadersResult(resp)
		return err
	})
	return results, res, err
}

// forwardReassignments forwards an AlterPartitionReassignments and returns
// its results once the change is applied here.
func (r *raftRunner) forwardReassignments(ctx context.Context, reqs []Reassignment) ([]ReassignmentResult, changeResult, error) {
	var results []ReassignmentResult
	res, err := r.forwarded(ctx, alterReassignmentsRequest(reqs), func(resp kmsg.Response) error {
		var err error
		results, err = alterReassignmentsResult(resp)
		return err
	})
	return results, res, err
}

// forwardProducerIDs serves n ids from the block the active controller
// handed this node, asking it for a new block when this one runs out.
func (r *raftRunner) forwardProducerIDs(ctx context.Context, n int64) (changeResult, error) {
	r.pidMu.Lock()
	defer r.pidMu.Unlock()
	if first, ok := r.pidBlock.take(n); ok {
		return changeResult{firstProducerID: first}, nil
	}
	resp, err := r.call(ctx, allocateProducerIDsRequest(r.self))
	if err != nil {
		return changeResult{}, err
	}
	b := &r.pidBlock
	if b.next, b.end, err = allocateProducerIDsResult(resp); err != nil {
		return changeResult{}, err
	}
	first, _ := b.take(n)
	return changeResult{firstProducerID: first}, nil
}

// ReceiveRaft hands the node a raft message from a peer (the transport's
// OnMessage). It never blocks: with the node's queue full the message is
// dropped.
func (c *Controller) ReceiveRaft(m *raftpb.Message) {
	if c.raft == nil {
		return
	}
	select {
	case c.raft.inbound <- m:
	default:
	}
}

// ReportUnreachable tells the raft node that a message to node was lost
// (the transport's OnUnreachable). It never blocks.
func (c *Controller) ReportUnreachable(node int32) {
	if c.raft == nil {
		return
	}
	c.raft.report(func() { c.raft.unreachable[RaftID(node)] = true })
}

// ReportSnapshot tells the raft node whether the snapshot it sent node
// went out (the transport's OnSnapshotStatus): raft replicates to that
// node again only once told. It never blocks.
func (c *Controller) ReportSnapshot(node int32, ok bool) {
	if c.raft == nil {
		return
	}
	c.raft.report(func() { c.raft.snapReports = append(c.raft.snapReports, snapReport{to: RaftID(node), ok: ok}) })
}

// HandleRequest serves a change forwarded by another voter (the
// transport's controller calls): it runs the request's changes here, one
// after the other, and answers NOT_CONTROLLER for those this node cannot
// make because it is not the active controller.
func (c *Controller) HandleRequest(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if c.raft == nil {
		return nil, fmt.Errorf("quorum: a one-voter controller serves no forwarded requests")
	}
	changes, resp, err := c.plan.serveRequest(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, changeTimeout)
	defer cancel()
	applied := int64(-1)
	for _, sc := range changes {
		res, err := c.raft.do(ctx, sc.p)
		sc.answer(res, err)
		if err == nil && !sc.p.validateOnly && res.image != nil {
			applied = max(applied, res.image.Offset)
		}
	}
	if tags := responseTags(resp); tags != nil && applied >= 0 {
		tags.Set(appliedOffsetTag, binary.BigEndian.AppendUint64(nil, uint64(applied)))
	}
	c.deliver()
	return resp, nil
}

// QuorumStatus returns this node's view of the quorum (DescribeQuorum; on an
// observer, its catch-up).
func (c *Controller) QuorumStatus() (QuorumStatus, error) {
	if c.raft == nil {
		return QuorumStatus{}, fmt.Errorf("quorum: a one-voter controller runs no raft node")
	}
	ch := make(chan QuorumStatus, 1)
	status := func() QuorumStatus {
		if o := c.raft.obs; o != nil {
			return o.status()
		}
		return c.raft.node.status()
	}
	select {
	case c.raft.tasks <- func() { ch <- status() }:
		return <-ch, nil
	case <-c.raft.stopped:
		return QuorumStatus{}, c.raft.err
	}
}

// closeRaft stops the node and waits for its goroutine.
func (r *raftRunner) close() {
	r.stopNow.Do(func() { close(r.stop) })
	<-r.stopped
}

// newPlanner is the planner for opts, drawing random bytes from crypto/rand.
func newPlanner(opts Options) planner {
	return planner{
		topicPartitionsMax:  opts.TopicPartitionsMax,
		brokerPartitionsMax: int(opts.BrokerPartitionsMax),
		topicsMax:           int(opts.TopicsMax),
		validateConfig:      opts.ValidateTopicConfig,
		random:              func(b []byte) { rand.Read(b) },
	}
}

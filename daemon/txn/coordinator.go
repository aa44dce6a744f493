package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon/coordinator"
	"github.com/riffle/riffle/daemon/group"
	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
)

// Partitions finds the replicas this broker hosts.
type Partitions interface {
	Partition(topic string, partition int32) *replica.Partition
}

// Sender sends a request to another broker and returns its answer:
// WriteTxnMarkers to partition leaders, AddPartitionsToTxn verifications
// to coordinators.
type Sender func(ctx context.Context, broker int32, req kmsg.Request) (kmsg.Response, error)

// markerSendTimeout bounds one WriteTxnMarkers exchange: the leader's own
// 5 s wait for the marker's replication, and room for the round trip.
const markerSendTimeout = 6 * time.Second

// Options configure a Coordinator.
type Options struct {
	NodeID int32
	Config Config
	// TopicPartitions and TopicReplicationFactor are used when
	// __transaction_state is created (Kafka's
	// transaction.state.log.num.partitions and
	// transaction.state.log.replication.factor); as for
	// __consumer_offsets, only once that many brokers are live.
	TopicPartitions        int32
	TopicReplicationFactor int16
	Controller             quorum.Metadata
	Partitions             Partitions
	Send                   Sender
	TickInterval           time.Duration // timer precision; 100 ms when 0
	// CommitTimeout bounds the wait for the ISR to hold a record; 30 s
	// when 0, as Kafka's coordinator waits request.timeout.ms: a
	// partition leader's death holds its appends until the controller
	// fences it (9 s) and shrinks the ISR, and an EndTxn answered
	// COORDINATOR_NOT_AVAILABLE before that only sends the client
	// looking for the coordinator again, among dead brokers too.
	CommitTimeout time.Duration
	// MarkerRetry is the pause before markers that failed are sent again;
	// 100 ms when 0.
	MarkerRetry time.Duration
	// LeaseHeld, when set, says whether this broker surely still holds
	// its controller session (group.Options.LeaseHeld).
	LeaseHeld func() bool
	Now       func() time.Time
	Logger    *slog.Logger
}

// Coordinator runs the Machine for this broker: it serves the
// transactional ids whose __transaction_state partitions this broker
// leads, loading each partition when it becomes its leader. Safe for
// concurrent use.
type Coordinator struct {
	coordinator.Shell[CallID]
	opts   Options
	log    *slog.Logger
	m      *Machine
	wanted bool // a FindCoordinator asked for a transactional id: create the topic
	counts Counts
	ctx    context.Context // cancelled by Close: ends marker requests under way
}

// Counts are the coordinator's running totals, for the metrics.
type Counts struct {
	Committed, Aborted int64
}

func (c *Coordinator) nowMs() int64 { return c.opts.Now().UnixMilli() }

// Open creates __transaction_state if it does not exist and enough
// brokers are live, starts loading the partitions this broker leads and
// follows metadata changes from then on.
func Open(opts Options) (*Coordinator, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.TickInterval == 0 {
		opts.TickInterval = 100 * time.Millisecond
	}
	if opts.CommitTimeout == 0 {
		opts.CommitTimeout = 30 * time.Second
	}
	if opts.MarkerRetry == 0 {
		opts.MarkerRetry = 100 * time.Millisecond
	}
	if opts.Config.TransactionMaxTimeoutMs <= 0 || opts.Config.TransactionalIDExpirationMs <= 0 {
		return nil, fmt.Errorf("txn: transaction.max.timeout.ms %d and transactional.id.expiration.ms %d must be positive",
			opts.Config.TransactionMaxTimeoutMs, opts.Config.TransactionalIDExpirationMs)
	}
	c := &Coordinator{opts: opts, log: opts.Logger, m: NewMachine(opts.Config)}
	c.Init(c.runLocked)
	var cancel context.CancelFunc
	c.ctx, cancel = context.WithCancel(context.Background())
	go func() { <-c.Stopping(); cancel() }()
	opts.Controller.OnChange(func(_, next *quorum.Image) { c.follow(next) })
	c.follow(opts.Controller.Image())
	c.RunTicks(opts.TickInterval, func() {
		c.maybeCreateTopicLocked(c.opts.Controller.Image())
		c.m.Tick(c.nowMs())
	})
	return c, nil
}

// Want asks for __transaction_state, as a FindCoordinator for a
// transactional id does: Kafka creates it on first use, not at start, so a
// broker that never sees a transaction spends no files and disk on its
// partitions.
func (c *Coordinator) Want() {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	c.wanted = true
	c.maybeCreateTopicLocked(c.opts.Controller.Image())
}

// maybeCreateTopicLocked creates __transaction_state off the caller's
// goroutine when it is wanted, missing and enough brokers are live, one
// attempt a second at most.
func (c *Coordinator) maybeCreateTopicLocked(im *quorum.Image) {
	if !c.wanted || im.Topic(TransactionsTopic) != nil || len(im.LiveBrokers()) < int(c.opts.TopicReplicationFactor) {
		return
	}
	c.MaybeCreateLocked(func() error {
		_, err := c.opts.Controller.CreateTopic(quorum.CreateTopic{
			Name: TransactionsTopic, Partitions: c.opts.TopicPartitions, ReplicationFactor: c.opts.TopicReplicationFactor,
			Configs:  map[string]string{"cleanup.policy": "compact", "segment.bytes": "104857600"},
			Internal: true,
		}, 0, 0, false)
		if errors.Is(err, quorum.ErrTopicExists) {
			return nil
		}
		return err
	}, func(err error) {
		c.log.Warn("txn: creating the transaction state topic failed; retrying", "err", err)
	})
}

// Close answers every waiting request NOT_COORDINATOR and stops the
// timers, loads and marker senders.
func (c *Coordinator) Close() {
	c.Mu.Lock()
	if !c.BeginCloseLocked() {
		c.Mu.Unlock()
		return
	}
	for _, s := range []PartitionState{PartitionLoading, PartitionActive} {
		for _, p := range c.m.Partitions(s) {
			c.CancelLoadLocked(p)
			c.m.SetPartition(c.nowMs(), p, PartitionNone, 0)
		}
	}
	c.DropWaitersLocked()
	c.Mu.Unlock()
	c.Wait()
}

// Handle serves one transaction API request and returns its response
// (version not set). It returns ctx's error if ctx ends first.
func (c *Coordinator) Handle(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	c.Mu.Lock()
	if c.ClosedLocked() {
		c.Mu.Unlock()
		return nil, fmt.Errorf("txn: %w", coordinator.ErrClosed)
	}
	call, ch := c.RegisterLocked()
	c.m.SetLeaseLost(c.opts.LeaseHeld != nil && !c.opts.LeaseHeld())
	c.m.Request(c.nowMs(), call, req)
	c.runLocked()
	c.Mu.Unlock()
	resp, err := c.Await(ctx, call, ch)
	if errors.Is(err, coordinator.ErrClosed) {
		err = fmt.Errorf("txn: %w", err)
	}
	return resp, err
}

// Ongoing counts the transactions this coordinator serves that are not
// complete, and returns the running totals (metrics).
func (c *Coordinator) Ongoing() (int, Counts) {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	n := 0
	for _, t := range c.m.txns {
		if t.state == Ongoing || t.state == PrepareCommit || t.state == PrepareAbort {
			n++
		}
	}
	return n, c.counts
}

// runLocked carries out the machine's actions until it has none left.
func (c *Coordinator) runLocked() {
	for {
		acts := c.m.TakeActions()
		if len(acts) == 0 {
			return
		}
		for _, act := range acts {
			switch act := act.(type) {
			case Reply:
				c.ReplyLocked(act.Call, act.Resp)
			case Append:
				c.append(act)
			case AllocateID:
				c.Go(func() { c.allocate(act.Token) })
			case WriteMarkers:
				gen := c.LoadGenLocked(act.Partition)
				c.Go(func() { c.writeMarkers(act, gen) })
			}
		}
	}
}

// allocate asks the controller for a producer id.
func (c *Coordinator) allocate(token Token) {
	id, err := c.opts.Controller.AllocateProducerIDs(1)
	code := int16(0)
	if err != nil {
		c.log.Warn("txn: allocating a producer id failed", "err", err)
		code = kerr.CoordinatorNotAvailable.Code
	}
	c.Mu.Lock()
	defer c.Mu.Unlock()
	if c.ClosedLocked() {
		return
	}
	c.m.IDAllocated(c.nowMs(), token, id, code)
	c.runLocked()
}

// append writes an Append's record; the machine hears of it once the
// ISR holds it (coordinator.Shell.AppendLocked).
func (c *Coordinator) append(a Append) {
	p := c.opts.Partitions.Partition(TransactionsTopic, a.Partition)
	if p == nil {
		c.m.Appended(c.nowMs(), a.Token, kerr.NotCoordinator.Code)
		return
	}
	err := c.AppendLocked(p, func() (replica.AppendResult, error) {
		batch, err := segment.ValidateBatch(segment.EncodeBatch(nil, segment.BatchSpec{BaseTimestamp: c.nowMs(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
			[]segment.Record{{Key: a.Key, Value: a.Value}}), p.Log().Config().BatchBytesMax)
		if err != nil {
			return replica.AppendResult{}, err
		}
		return p.AppendAsLeader(batch, -1, -1)
	}, c.opts.CommitTimeout, func(code int16) { c.m.Appended(c.nowMs(), a.Token, code) })
	if err != nil {
		c.log.Warn("txn: append to the transaction state topic failed", "partition", a.Partition, "err", err)
	}
}

// writeMarkers sends the markers to the partitions' leaders until each
// has written its marker, the coordinator moves off the transaction's
// partition (gen), or closes; then it reports them written. A partition
// whose topic is gone needs no marker.
func (c *Coordinator) writeMarkers(w WriteMarkers, gen uint64) {
	txnPartition := w.Partition
	left := slices.Clone(w.Partitions)
	for len(left) > 0 {
		c.Mu.Lock()
		stale := c.ClosedLocked() || !c.LoadCurrentLocked(txnPartition, gen)
		c.Mu.Unlock()
		if stale {
			return
		}
		left = c.sendMarkers(w, left)
		if len(left) == 0 {
			break
		}
		select {
		case <-c.Stopping():
			return
		case <-time.After(c.opts.MarkerRetry):
		}
	}
	c.Mu.Lock()
	defer c.Mu.Unlock()
	if c.ClosedLocked() || !c.LoadCurrentLocked(txnPartition, gen) {
		return
	}
	if w.Commit {
		c.counts.Committed++
	} else {
		c.counts.Aborted++
	}
	c.m.MarkersWritten(c.nowMs(), w.TransactionalID, w.ProducerID, w.ProducerEpoch)
	c.runLocked()
}

// sendMarkers sends one round of markers, one request per leader, and
// returns the partitions still without one.
func (c *Coordinator) sendMarkers(w WriteMarkers, parts []TopicPartition) []TopicPartition {
	im := c.opts.Controller.Image()
	byLeader := map[int32][]TopicPartition{}
	var left []TopicPartition
	for _, tp := range parts {
		t := im.Topic(tp.Topic)
		switch {
		case t == nil || int(tp.Partition) >= len(t.Partitions):
			// Deleted: nothing to mark.
		case t.Partitions[tp.Partition].Leader < 0:
			left = append(left, tp)
		default:
			l := t.Partitions[tp.Partition].Leader
			byLeader[l] = append(byLeader[l], tp)
		}
	}
	for leader, tps := range byLeader {
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = w.ProducerID, w.ProducerEpoch, w.Commit, w.CoordinatorEpoch
		for _, tp := range tps {
			if n := len(m.Topics); n == 0 || m.Topics[n-1].Topic != tp.Topic {
				m.Topics = append(m.Topics, kmsg.WriteTxnMarkersRequestMarkerTopic{Topic: tp.Topic})
			}
			m.Topics[len(m.Topics)-1].Partitions = append(m.Topics[len(m.Topics)-1].Partitions, tp.Partition)
		}
		req.Markers = append(req.Markers, m)
		ctx, cancel := context.WithTimeout(c.ctx, markerSendTimeout)
		kresp, err := c.opts.Send(ctx, leader, req)
		cancel()
		resp, _ := kresp.(*kmsg.WriteTxnMarkersResponse)
		if err == nil && resp == nil {
			err = fmt.Errorf("answer %T", kresp)
		}
		if err != nil {
			c.log.Debug("txn: sending markers failed; retrying", "broker", leader, "err", err)
			left = append(left, tps...)
			continue
		}
		done := map[TopicPartition]bool{}
		for _, rm := range resp.Markers {
			for _, rt := range rm.Topics {
				for _, rp := range rt.Partitions {
					tp := TopicPartition{rt.Topic, rp.Partition}
					// A partition gone since is done; an old epoch here
					// means a newer marker was already written.
					if rp.ErrorCode == 0 || rp.ErrorCode == kerr.UnknownTopicOrPartition.Code || rp.ErrorCode == kerr.InvalidProducerEpoch.Code {
						done[tp] = true
					} else {
						// TRANSACTION_COORDINATOR_FENCED too: a newer
						// coordinator wrote there, and the image will
						// soon take the partition off this one (gen).
						c.log.Debug("txn: marker not written; retrying", "topic", tp.Topic, "partition", tp.Partition, "code", rp.ErrorCode)
					}
				}
			}
		}
		for _, tp := range tps {
			if !done[tp] {
				left = append(left, tp)
			}
		}
	}
	return left
}

// follow brings the served partitions in line with the image: partitions
// of __transaction_state this broker leads are loaded (in the coordinator
// epoch of their leader epoch), others dropped.
func (c *Coordinator) follow(im *quorum.Image) {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	if c.ClosedLocked() {
		return
	}
	led := map[int32]int32{} // partition -> leader epoch
	offsets := int32(0)
	if t := im.Topic(group.OffsetsTopic); t != nil {
		offsets = int32(len(t.Partitions))
	}
	if t := im.Topic(TransactionsTopic); t != nil {
		for _, p := range t.Partitions {
			if p.Leader == c.opts.NodeID && c.opts.Partitions.Partition(TransactionsTopic, p.ID) != nil {
				led[p.ID] = p.LeaderEpoch
			}
		}
		c.m.SetPartitionCount(int32(len(t.Partitions)), offsets)
	} else {
		c.m.SetPartitionCount(0, offsets)
		c.maybeCreateTopicLocked(im)
	}
	now := c.nowMs()
	for _, s := range []PartitionState{PartitionLoading, PartitionActive} {
		for _, p := range c.m.Partitions(s) {
			if epoch, ok := led[p]; !ok || epoch != c.m.partitions[p].epoch {
				c.CancelLoadLocked(p)
				c.m.SetPartition(now, p, PartitionNone, 0)
			}
		}
	}
	for p, epoch := range led {
		if c.m.partitions[p].state != PartitionNone {
			continue
		}
		gen := c.StartLoadLocked(p)
		c.m.SetPartition(now, p, PartitionLoading, epoch)
		c.Go(func() { c.load(p, epoch, gen) })
	}
	c.runLocked()
}

// load replays partition p into the machine and then serves it, unless
// the load was cancelled (gen moved on) meanwhile.
func (c *Coordinator) load(p, epoch int32, gen uint64) {
	start := time.Now()
	records := 0
	rp := c.opts.Partitions.Partition(TransactionsTopic, p)
	err := errors.New("partition not hosted")
	if rp != nil {
		err = group.Replay(rp, func(buf []byte) (int64, error) {
			c.Mu.Lock()
			defer c.Mu.Unlock()
			if !c.LoadCurrentLocked(p, gen) {
				return 0, errors.New("load cancelled")
			}
			return group.EachRecord(buf, func(b group.BatchInfo, key, value []byte) error {
				records++
				if b.Control {
					return nil
				}
				if err := c.m.Load(p, key, value); err != nil {
					c.log.Warn("txn: skipping unreadable record", "partition", p, "err", err)
				}
				return nil
			})
		})
	}
	c.Mu.Lock()
	defer c.Mu.Unlock()
	if !c.LoadCurrentLocked(p, gen) {
		return
	}
	if err != nil {
		c.log.Error("txn: loading transaction state partition failed; not serving its ids", "partition", p, "err", err)
		c.m.SetPartition(c.nowMs(), p, PartitionNone, 0)
	} else {
		c.log.Info("txn: transaction state partition loaded", "partition", p, "records", records, "took", time.Since(start))
		c.m.SetPartition(c.nowMs(), p, PartitionActive, epoch)
	}
	c.runLocked()
}

// Verify asks the coordinator of transactional id whether its producer's
// ongoing transaction includes the partition (KIP-890 part 1): this
// broker's machine, or the coordinator broker by AddPartitionsToTxn v4
// with verify_only. It returns 0 or the Kafka error code.
func (c *Coordinator) Verify(ctx context.Context, id string, producerID int64, epoch int16, topic string, partition int32) (int16, error) {
	return c.addOrVerify(ctx, id, producerID, epoch, topic, partition, true)
}

// AddImplicit has the coordinator of transactional id add the partition
// to its producer's transaction, beginning one if none is ongoing, for a
// producer of transaction version 2 (KIP-890 part 2), which sends no
// AddPartitionsToTxn itself: AddPartitionsToTxn v5, not verify_only. It
// returns 0 or the Kafka error code.
func (c *Coordinator) AddImplicit(ctx context.Context, id string, producerID int64, epoch int16, topic string, partition int32) (int16, error) {
	return c.addOrVerify(ctx, id, producerID, epoch, topic, partition, false)
}

func (c *Coordinator) addOrVerify(ctx context.Context, id string, producerID int64, epoch int16, topic string, partition int32, verifyOnly bool) (int16, error) {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	if !verifyOnly {
		req.Version = 5
	}
	req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{{TransactionalID: id, ProducerID: producerID, ProducerEpoch: epoch,
		VerifyOnly: verifyOnly, Topics: []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: topic, Partitions: []int32{partition}}}}}
	im := c.opts.Controller.Image()
	t := im.Topic(TransactionsTopic)
	if t == nil || len(t.Partitions) == 0 {
		return kerr.CoordinatorNotAvailable.Code, nil
	}
	leader := t.Partitions[PartitionFor(id, int32(len(t.Partitions)))].Leader
	var kresp kmsg.Response
	var err error
	if leader == c.opts.NodeID {
		kresp, err = c.Handle(ctx, req)
	} else {
		kresp, err = c.opts.Send(ctx, leader, req)
	}
	if err != nil {
		return 0, fmt.Errorf("add to or verify transaction %q: %w", id, err)
	}
	resp, ok := kresp.(*kmsg.AddPartitionsToTxnResponse)
	switch {
	case !ok:
		return 0, fmt.Errorf("add to or verify transaction %q: answer %T", id, kresp)
	case resp.ErrorCode != 0:
		return resp.ErrorCode, nil
	case len(resp.Transactions) != 1 || len(resp.Transactions[0].Topics) != 1 || len(resp.Transactions[0].Topics[0].Partitions) != 1:
		return 0, fmt.Errorf("add to or verify transaction %q: malformed answer", id)
	}
	return resp.Transactions[0].Topics[0].Partitions[0].ErrorCode, nil
}

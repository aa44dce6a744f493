package group

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon/coordinator"
	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
)

// Partitions finds the replicas this broker hosts (the daemon's partition
// set).
type Partitions interface {
	Partition(topic string, partition int32) *replica.Partition
}

// Options configure a Coordinator.
type Options struct {
	NodeID int32
	Config Config
	// TopicPartitions and TopicReplicationFactor are used when
	// __consumer_offsets is created (Kafka: offsets.topic.num.partitions,
	// offsets.topic.replication.factor). As in Kafka the topic is created
	// only once that many brokers are live (until then group requests get
	// COORDINATOR_NOT_AVAILABLE), so a cluster never starts its offsets on
	// fewer replicas than configured; the daemon caps the factor at the
	// quorum's voters, so a single node gets 1. Later changes do not alter
	// an existing topic.
	TopicPartitions        int32
	TopicReplicationFactor int16
	Controller             quorum.Metadata
	Partitions             Partitions
	TickInterval           time.Duration // timer precision; 100 ms when 0
	// CommitTimeout bounds the wait for the ISR to hold a group append
	// (Kafka's offsets.commit.timeout.ms); 5 s when 0.
	CommitTimeout time.Duration
	// LeaseHeld, when set, says whether this broker surely still holds
	// its controller session: once it may have lapsed, the controller may
	// have fenced the broker and moved its partitions' leadership, and the
	// coordinator answers NOT_COORDINATOR rather than from memory. Nil
	// (a single node) holds it always.
	LeaseHeld func() bool
	Now       func() time.Time
	Logger    *slog.Logger
}

// Coordinator runs the Machine for this broker: it serves requests for the
// groups whose __consumer_offsets partitions this broker leads, loads those
// partitions when it becomes their leader, appends the machine's records
// and runs its timers. Safe for concurrent use.
//
// Appends happen under the coordinator's lock, in the order the machine
// asked for them; the machine hears of each once the partition's HW covers
// it, so an acknowledged commit is on every ISR member (in their page
// caches: durable across a process crash; across power loss only once
// flushed).
type Coordinator struct {
	coordinator.Shell[CallID]
	opts Options
	log  *slog.Logger
	m    *Machine
}

func (c *Coordinator) nowMs() int64 { return c.opts.Now().UnixMilli() }

// Open creates __consumer_offsets if it does not exist, starts loading the
// partitions this broker leads and follows metadata changes from then on.
func Open(opts Options) (*Coordinator, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if cfg := opts.Config; cfg.SessionTimeoutMsMin > cfg.SessionTimeoutMsMax {
		return nil, fmt.Errorf("group: session timeout min %d ms above max %d ms", cfg.SessionTimeoutMsMin, cfg.SessionTimeoutMsMax)
	}
	if opts.TickInterval == 0 {
		opts.TickInterval = 100 * time.Millisecond
	}
	if opts.CommitTimeout == 0 {
		opts.CommitTimeout = 5 * time.Second
	}
	c := &Coordinator{opts: opts, log: opts.Logger, m: NewMachine(opts.Config, randomMemberID)}
	c.Init(c.runLocked)
	if im := opts.Controller.Image(); im.Topic(OffsetsTopic) == nil && c.enoughBrokers(im) {
		if err := c.createTopic(); err != nil {
			return nil, err
		}
	}
	opts.Controller.OnChange(func(_, next *quorum.Image) { c.follow(next) })
	c.follow(opts.Controller.Image())
	c.RunTicks(opts.TickInterval, func() {
		c.maybeCreateTopicLocked(c.opts.Controller.Image())
		c.m.Tick(c.nowMs())
	})
	return c, nil
}

func (c *Coordinator) createTopic() error {
	_, err := c.opts.Controller.CreateTopic(quorum.CreateTopic{
		Name: OffsetsTopic, Partitions: c.opts.TopicPartitions, ReplicationFactor: c.opts.TopicReplicationFactor,
		Configs:  map[string]string{"cleanup.policy": "compact", "segment.bytes": "104857600"},
		Internal: true,
	}, 0, 0, false)
	if err != nil && !errors.Is(err, quorum.ErrTopicExists) {
		return fmt.Errorf("group: create %s: %w", OffsetsTopic, err)
	}
	return nil
}

func (c *Coordinator) enoughBrokers(im *quorum.Image) bool {
	return len(im.LiveBrokers()) >= int(c.opts.TopicReplicationFactor)
}

// maybeCreateTopicLocked starts creating __consumer_offsets when it is
// missing and enough brokers are live, off the caller's goroutine (the
// change waits for the quorum), one attempt at a time and at most one a
// second: image changes and ticks call it until it exists.
func (c *Coordinator) maybeCreateTopicLocked(im *quorum.Image) {
	if im.Topic(OffsetsTopic) != nil || !c.enoughBrokers(im) {
		return
	}
	c.MaybeCreateLocked(c.createTopic, func(err error) {
		c.log.Warn("group: creating the offsets topic failed; retrying", "err", err)
	})
}

// randomMemberID is a member id as Kafka forms it: the client id, "-", a
// random suffix (Kafka's is a UUID; clients treat it as opaque).
func randomMemberID(clientID string) string {
	return clientID + "-" + rand.Text()
}

// Close answers every waiting request NOT_COORDINATOR and stops the
// timers and loads; later requests are answered COORDINATOR_NOT_AVAILABLE.
func (c *Coordinator) Close() {
	c.Mu.Lock()
	if !c.BeginCloseLocked() {
		c.Mu.Unlock()
		return
	}
	for _, s := range []PartitionState{PartitionLoading, PartitionActive} {
		for _, p := range c.m.Partitions(s) {
			c.CancelLoadLocked(p)
			c.m.SetPartition(c.nowMs(), p, PartitionNone)
		}
	}
	c.m.SetPartitionCount(0)
	c.runLocked()
	c.Mu.Unlock()
	c.Wait()
}

// Handle serves one group API request and returns its response (version
// not set), waiting as the protocol requires (a JoinGroup until the
// rebalance completes). It returns ctx's error if ctx ends first.
func (c *Coordinator) Handle(ctx context.Context, clientID, host string, req kmsg.Request) (kmsg.Response, error) {
	c.Mu.Lock()
	call, ch := c.RegisterLocked()
	c.m.SetLeaseLost(c.opts.LeaseHeld != nil && !c.opts.LeaseHeld())
	c.m.Request(c.nowMs(), Caller{Call: call, ClientID: clientID, Host: host}, req)
	c.runLocked()
	c.Mu.Unlock()
	return c.Await(ctx, call, ch)
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
			}
		}
	}
}

// append writes an Append's records as one batch; the machine hears of it
// once the ISR holds it (coordinator.Shell.AppendLocked).
func (c *Coordinator) append(a Append) {
	p := c.opts.Partitions.Partition(OffsetsTopic, a.Partition)
	if p == nil {
		c.m.Appended(c.nowMs(), a.Token, kerr.NotCoordinator.Code)
		return
	}
	recs := make([]segment.Record, len(a.Records))
	for i, r := range a.Records {
		recs[i] = segment.Record{Key: r.Key, Value: r.Value}
	}
	spec := segment.BatchSpec{BaseTimestamp: c.nowMs(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	if a.Producer != nil {
		spec.ProducerID, spec.ProducerEpoch, spec.Attributes = a.Producer.ID, a.Producer.Epoch, segment.AttrTransactional
	}
	err := c.AppendLocked(p, func() (replica.AppendResult, error) {
		batch, err := segment.ValidateBatch(segment.EncodeBatch(nil, spec, recs), p.Log().Config().BatchBytesMax)
		switch {
		case err != nil:
			return replica.AppendResult{}, err
		case a.Producer != nil:
			return p.AppendCoordinatorTxn(batch)
		default:
			return p.AppendAsLeader(batch, -1, -1)
		}
	}, c.opts.CommitTimeout, func(code int16) { c.m.Appended(c.nowMs(), a.Token, code) })
	if err != nil {
		c.log.Warn("group: append to offsets topic failed", "partition", a.Partition, "err", err)
	}
}

// CompleteTxn applies a transaction marker just appended to partition p
// of __consumer_offsets (WriteTxnMarkers): the producer's offsets pending
// there become visible (commit) or are dropped (abort).
func (c *Coordinator) CompleteTxn(p int32, producerID int64, commit bool) {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	c.m.CompleteTxn(p, producerID, commit)
}

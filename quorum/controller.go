package quorum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/segment"
	"github.com/riffle/riffle/segment/vfs"
)

// Options configure the controller.
type Options struct {
	NodeID int32
	Broker Broker // this node's advertised endpoint; Broker.ID must be NodeID
	// ValidateTopicConfig checks one topic config override; nil accepts
	// all. ValidateTopicConfig (topicconfig.go) is the one to pass.
	ValidateTopicConfig func(name, value string) error
	// TopicPartitionsMax limits a topic's partition count;
	// 0 means DefaultTopicPartitionsMax.
	TopicPartitionsMax int32
	// BrokerPartitionsMax limits the partition replicas placed on one
	// broker; 0 means DefaultBrokerPartitionsMax.
	BrokerPartitionsMax int32
	// TopicsMax limits the topics of the cluster; 0 means DefaultTopicsMax.
	TopicsMax int32
	Logger    *slog.Logger
}

// ErrClusterDataDir: the metadata log was written by a node of a
// multi-node cluster, and this node runs with no voter list.
var ErrClusterDataDir = errors.New("the metadata log belongs to a node of a cluster")

// metadataBatchBytesMax is the metadata log's batch size limit: one change
// is one batch, and a topic of DefaultTopicPartitionsMax partitions with
// replication factor 5 takes about 1 MiB.
const metadataBatchBytesMax = 16 << 20

// MetadataLogConfig returns the segment config for the metadata log
// (__cluster_metadata-0): base with retention off, since the image is
// rebuilt from the first record (no snapshots yet), room for the largest
// change, and a roll's sync done in the append (every Save flushes anyway).
func MetadataLogConfig(base segment.Config) segment.Config {
	base.RetentionBytes = -1
	base.RetentionMs = -1
	base.BatchBytesMax = metadataBatchBytesMax
	base.RollSyncInline = true
	return base
}

// Controller owns the metadata and the image. Safe for concurrent use;
// changes are serialized.
//
// With one voter (Open) this node is always the controller: a change is
// committed when its batch is appended to the metadata log and flushed. A
// change method returns only after that, so an acknowledged change
// survives a crash. If an append or flush fails, the log's state is
// unknown and every later change fails with that error until a restart
// replays the log.
//
// With several voters the controller runs on a raft node (raftcontroller.go):
// the raft leader is the active controller, and a change method returns
// once the change's entry is committed and applied here.
type Controller struct {
	log     *segment.Log // the one-voter metadata log; nil on a raft node
	raft    *raftRunner  // nil with one voter
	cluster *clusterNode // a voter opened by OpenCluster; nil otherwise
	plan    planner
	image   atomic.Pointer[Image]

	mu        sync.Mutex // serializes one-voter changes; guards the fields below
	listeners []func(prev, next *Image)
	pending   []change // committed, not yet delivered to listeners
	pidNext   int64    // one voter: next producer id to hand out, below image.ProducerIDsEnd unless a block is due
	err       error    // sticky: ErrClosed, or the failed append or flush

	deliverMu sync.Mutex // held while delivering, so listeners see commit order
}

// change is one committed change and the listeners registered at commit.
type change struct {
	prev, next *Image
	listeners  []func(prev, next *Image)
}

// check validates opts and fills in defaults.
func (opts Options) check() (Options, error) {
	if opts.Broker.ID != opts.NodeID {
		return opts, fmt.Errorf("quorum: broker id %d is not node id %d", opts.Broker.ID, opts.NodeID)
	}
	for _, l := range []struct {
		name string
		v    *int32
		def  int32
	}{
		{"topic partitions max", &opts.TopicPartitionsMax, DefaultTopicPartitionsMax},
		{"broker partitions max", &opts.BrokerPartitionsMax, DefaultBrokerPartitionsMax},
		{"topics max", &opts.TopicsMax, DefaultTopicsMax},
	} {
		if *l.v == 0 {
			*l.v = l.def
		}
		if *l.v < 0 {
			return opts, fmt.Errorf("quorum: %s %d", l.name, *l.v)
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return opts, nil
}

// Open runs the controller of a single voter, this node: it replays the
// metadata log (a segment.Log, __cluster_metadata-0, made with
// MetadataLogConfig) into an image, writes the cluster id on the first
// start and registers this broker when its endpoint changed. The log stays
// the caller's: Close does not close it.
func Open(log *segment.Log, opts Options) (*Controller, error) {
	opts, err := opts.check()
	if err != nil {
		return nil, err
	}
	// A cluster node's log (a voter's or an observer's) is refused: alone,
	// it would go on without the quorum and diverge from it.
	if _, found, err := readHardState(vfs.OS, log.Dir()); err != nil || found {
		if err == nil {
			err = fmt.Errorf("%w: %s holds %s; start this node with its cluster's cluster.voters", ErrClusterDataDir, log.Dir(), hardStateFile)
		}
		return nil, fmt.Errorf("quorum: %w", err)
	}
	start := time.Now()
	im, err := replay(log, emptyImage(opts.NodeID))
	if err != nil {
		return nil, fmt.Errorf("quorum: replay %s: %w", log.Dir(), err)
	}
	c := &Controller{log: log, plan: newPlanner(opts), pidNext: im.ProducerIDsEnd}
	c.image.Store(im)
	if recs := c.plan.startup(im, opts.Broker); len(recs) > 0 {
		if im, err = c.commitLocked(recs); err != nil {
			return nil, fmt.Errorf("quorum: start: %w", err)
		}
	}
	opts.Logger.Info("metadata loaded", "cluster_id", im.ClusterID, "offset", im.Offset,
		"topics", im.TopicCount(), "brokers", len(im.Brokers), "replay", time.Since(start))
	return c, nil
}

// Image returns the current image; it is immutable and cheap to get.
func (c *Controller) Image() *Image { return c.image.Load() }

// OnChange registers fn, called after each change committed from now on
// with the previous and the new image, in commit order (on a raft node
// also when the active controller changes: a new ControllerID at the same
// Offset). Calls happen outside the controller's lock, one at a time, on
// the goroutine of a change method, which returns only after its change
// was delivered to every listener (on a raft node, changes no local
// method waits for are delivered by a goroutine of the controller). fn may
// call Image but must not call a change method (that deadlocks).
func (c *Controller) OnChange(fn func(prev, next *Image)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listeners = append(c.listeners[:len(c.listeners):len(c.listeners)], fn)
}

// CreateTopic validates and commits a new topic and returns it as in the
// new image (do not modify it). With validateOnly it commits nothing and
// returns the topic that would be created. defaultPartitions and defaultRF
// replace -1 in req.
func (c *Controller) CreateTopic(req CreateTopic, defaultPartitions int32, defaultRF int16, validateOnly bool) (*Topic, error) {
	p := &proposal{validateOnly: validateOnly, plan: func(im *Image) ([]record, error) {
		return c.plan.createTopic(im, req, defaultPartitions, defaultRF)
	}}
	res, err := c.run(p, func(ctx context.Context, r *raftRunner) (changeResult, error) {
		partitions, rf := req.Partitions, req.ReplicationFactor
		if partitions == -1 {
			partitions = defaultPartitions
		}
		if rf == -1 {
			rf = defaultRF
		}
		return r.forwardCreateTopic(ctx, req, partitions, rf)
	})
	if err != nil {
		return nil, err
	}
	return res.image.Topic(req.Name), nil
}

// DeleteTopic removes a topic and its config overrides.
func (c *Controller) DeleteTopic(name string) error {
	p := &proposal{plan: func(im *Image) ([]record, error) { return c.plan.deleteTopic(im, name) }}
	_, err := c.run(p, func(ctx context.Context, r *raftRunner) (changeResult, error) {
		return r.forwarded(ctx, deleteTopicsRequest(name), deleteTopicsResult)
	})
	return err
}

// CreatePartitions raises a topic's partition count to count.
func (c *Controller) CreatePartitions(name string, count int32, validateOnly bool) error {
	p := &proposal{validateOnly: validateOnly, plan: func(im *Image) ([]record, error) {
		return c.plan.createPartitions(im, name, count)
	}}
	_, err := c.run(p, func(ctx context.Context, r *raftRunner) (changeResult, error) {
		return r.forwarded(ctx, createPartitionsRequest(name, count), createPartitionsResult)
	})
	return err
}

// AlterTopicConfigs sets (value non-nil) or removes (nil) overrides, all or
// none.
func (c *Controller) AlterTopicConfigs(name string, set map[string]*string, validateOnly bool) error {
	p := &proposal{validateOnly: validateOnly, plan: func(im *Image) ([]record, error) {
		return c.plan.alterTopicConfigs(im, name, set)
	}}
	_, err := c.run(p, func(ctx context.Context, r *raftRunner) (changeResult, error) {
		return r.forwarded(ctx, alterConfigsRequest(kmsg.ConfigResourceTypeTopic, name, set), alterConfigsResult)
	})
	return err
}

// AlterClusterConfigs sets (non-nil) or removes (nil) cluster-wide
// dynamic broker configs by Kafka's broker config names: the defaults of
// topic configs (LookupClusterConfig), applied to every topic without an
// override.
func (c *Controller) AlterClusterConfigs(set map[string]*string, validateOnly bool) error {
	p := &proposal{validateOnly: validateOnly, plan: func(im *Image) ([]record, error) {
		return alterClusterConfigs(im, set)
	}}
	_, err := c.run(p, func(ctx context.Context, r *raftRunner) (changeResult, error) {
		return r.forwarded(ctx, alterConfigsRequest(kmsg.ConfigResourceTypeBroker, "", set), alterConfigsResult)
	})
	return err
}

// AlterPartition commits the ISR req proposes (none when it is the ISR
// already): a PartitionChange with the new ISR, the partition epoch
// bumped and the leader epoch kept. It returns once the change is applied
// here; every error wraps the Kafka error it travels as (kafkaError), so
// the leader tests one set of errors wherever the controller runs.
//
// An ISR that completes a reassignment and moves leadership away from the
// sender is committed and answered with kerr.NewLeaderElected, as Kafka
// does: the sender learns its new role from the image.
func (c *Controller) AlterPartition(req AlterPartition) error {
	var moved bool
	p := &proposal{plan: func(im *Image) ([]record, error) {
		recs, m, err := alterPartition(im, req)
		moved = m
		return recs, err
	}}
	_, err := c.run(p, func(ctx context.Context, r *raftRunner) (changeResult, error) {
		moved = false
		return r.forwardAlterPartition(ctx, req)
	})
	if err == nil && moved {
		err = newLeaderElected(req)
	}
	return kafkaError(err)
}

// newLeaderElected is AlterPartition's answer when its change moved
// leadership away from the sender.
func newLeaderElected(req AlterPartition) error {
	return fmt.Errorf("alter partition: topic id %x partition %d: the reassignment completed and moved leadership from broker %d: %w",
		req.TopicID, req.Partition, req.BrokerID, kerr.NewLeaderElected)
}

// AlterPartitionReassignments starts, changes or cancels the partitions'
// reassignments as one change (alterPartitionReassignments) and returns
// each partition's outcome; its error is for the whole request. Forwarded,
// it returns once the change is applied here.
func (c *Controller) AlterPartitionReassignments(reqs []Reassignment) ([]ReassignmentResult, error) {
	var results []ReassignmentResult
	p := &proposal{plan: func(im *Image) ([]record, error) {
		recs, res := c.plan.alterPartitionReassignments(im, reqs)
		results = res
		return recs, nil
	}}
	_, err := c.run(p, func(ctx context.Context, r *raftRunner) (changeResult, error) {
		var res changeResult
		var err error
		results, res, err = r.forwardReassignments(ctx, reqs)
		return res, err
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// ElectLeaders runs the elections as one change (electLeaders). Forwarded,
// it returns once the change is applied here.
func (c *Controller) ElectLeaders(electionType int8, partitions []TopicPartition) ([]ElectionResult, error) {
	var results []ElectionResult
	p := &proposal{plan: func(im *Image) ([]record, error) {
		recs, res, err := electLeaders(im, electionType, partitions)
		results = res
		return recs, err
	}}
	_, err := c.run(p, func(ctx context.Context, r *raftRunner) (changeResult, error) {
		var res changeResult
		var err error
		results, res, err = r.forwardElectLeaders(ctx, electionType, partitions)
		return res, err
	})
	if err != nil {
		// results may still be written by a plan whose outcome is unknown.
		return nil, err
	}
	return results, nil
}

// AllocateProducerIDs reserves n (1 to 1000) producer ids, never handed out
// again even across restarts, and returns the first. Ids come from a block
// whose end is durable in the metadata log before any id of it is returned;
// the ids left in a block at shutdown (or when another voter becomes the
// controller) are skipped. A voter that is not the controller serves ids
// from a block the controller handed it.
func (c *Controller) AllocateProducerIDs(n int64) (int64, error) {
	if err := checkProducerIDCount(n); err != nil {
		return 0, err
	}
	res, err := c.run(&proposal{producerIDs: n}, func(ctx context.Context, r *raftRunner) (changeResult, error) {
		return r.forwardProducerIDs(ctx, n)
	})
	if err != nil {
		return 0, err
	}
	return res.firstProducerID, nil
}

// Close stops the controller: later changes fail with ErrClosed. The
// metadata log stays open; its owner (the data dir) closes it.
func (c *Controller) Close() error {
	if c.raft != nil {
		c.raft.close()
		if c.cluster != nil {
			return c.cluster.transport.Close()
		}
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = ErrClosed
	}
	return nil
}

// run carries out p: with one voter under the lock, then delivers it to
// the listeners; on a raft node on the active controller, or through
// forward when this node is not it.
func (c *Controller) run(p *proposal, forward func(ctx context.Context, r *raftRunner) (changeResult, error)) (changeResult, error) {
	if c.raft != nil {
		return c.raft.change(p, forward)
	}
	c.mu.Lock()
	res, err := c.changeLocked(p)
	c.mu.Unlock()
	c.deliver()
	return res, err
}

func (c *Controller) changeLocked(p *proposal) (changeResult, error) {
	if c.err != nil {
		return changeResult{}, c.err
	}
	im := c.image.Load()
	var recs []record
	var err error
	res := changeResult{image: im}
	if p.producerIDs > 0 {
		recs, res.firstProducerID, err = allocateProducerIDs(im, c.pidNext, p.producerIDs)
	} else {
		recs, err = p.plan(im)
	}
	if err != nil || len(recs) == 0 {
		if err == nil && p.producerIDs > 0 {
			c.pidNext = res.firstProducerID + p.producerIDs
		}
		return res, err
	}
	if p.validateOnly {
		res.image, err = im.apply(recs, im.Offset)
		return res, err
	}
	if res.image, err = c.commitLocked(recs); err != nil {
		return changeResult{}, err
	}
	if p.producerIDs > 0 {
		c.pidNext = res.firstProducerID + p.producerIDs
	}
	return res, nil
}

// commitLocked appends recs as one batch, flushes it and swaps in the new
// image. The image is built from the records decoded back from the batch,
// exactly as a replay after a restart builds it.
func (c *Controller) commitLocked(recs []record) (*Image, error) {
	prev := c.image.Load()
	batch, next, err := buildBatch(prev, recs, time.Now().UnixMilli(), int(c.log.Config().BatchBytesMax))
	if err != nil {
		return nil, err
	}
	res, err := c.log.Append(batch, 0)
	if err == nil {
		err = c.log.Flush()
	}
	if err == nil && res.LastOffset != next.Offset {
		err = fmt.Errorf("batch got offsets %d-%d, want last %d: another writer?", res.BaseOffset, res.LastOffset, next.Offset)
	}
	if err != nil {
		c.err = fmt.Errorf("commit to metadata log %s: %w", c.log.Dir(), err)
		return nil, c.err
	}
	c.image.Store(next)
	if len(c.listeners) > 0 {
		c.pending = append(c.pending, change{prev: prev, next: next, listeners: c.listeners})
	}
	return next, nil
}

// buildBatch encodes recs as one batch of at most limit bytes and returns
// it with the image after it, built from the records decoded back from the
// batch, exactly as a replay builds it.
func buildBatch(prev *Image, recs []record, nowMs int64, limit int) (segment.Batch, *Image, error) {
	encoded := encodeBatch(recs, nowMs)
	if len(encoded) > limit {
		return segment.Batch{}, nil, fmt.Errorf("metadata change of %d bytes exceeds the metadata log's batch limit %d", len(encoded), limit)
	}
	batch, decoded, err := decodeBatch(encoded)
	if err != nil {
		panic(fmt.Sprintf("quorum: a metadata batch does not decode: %v", err))
	}
	next, err := prev.apply(decoded, prev.Offset+int64(len(recs)))
	if err != nil {
		return segment.Batch{}, nil, err
	}
	return batch, next, nil
}

// deliver hands committed changes to their listeners in commit order,
// outside mu so listeners may read the controller.
func (c *Controller) deliver() {
	c.deliverMu.Lock()
	defer c.deliverMu.Unlock()
	for {
		c.mu.Lock()
		pending := c.pending
		c.pending = nil
		c.mu.Unlock()
		if len(pending) == 0 {
			return
		}
		for _, ch := range pending {
			for _, fn := range ch.listeners {
				fn(ch.prev, ch.next)
			}
		}
	}
}

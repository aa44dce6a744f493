package quorum

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riffle/riffle/segment"
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

// metadataBatchBytesMax is the metadata log's batch size limit: one change
// is one batch, and a topic of DefaultTopicPartitionsMax partitions with
// replication factor 5 takes about 1 MiB.
const metadataBatchBytesMax = 16 << 20

// MetadataLogConfig returns the segment config for the metadata log
// (__cluster_metadata-0): base with retention off, since the image is
// rebuilt from the first record (no snapshots yet), and room for the
// largest change.
func MetadataLogConfig(base segment.Config) segment.Config {
	base.RetentionBytes = -1
	base.RetentionMs = -1
	base.BatchBytesMax = metadataBatchBytesMax
	return base
}

// Controller owns the metadata log and the image: a quorum of one voter
// until replication lands, so this node is always the controller. Safe for
// concurrent use; changes are serialized.
//
// A change is committed when its batch is appended and flushed: a change
// method returns only after that, so an acknowledged change survives a
// crash. If an append or flush fails, the log's state is unknown and every
// later change fails with that error until a restart replays the log.
type Controller struct {
	log   *segment.Log
	plan  planner
	image atomic.Pointer[Image]

	mu        sync.Mutex // serializes changes; guards the fields below
	listeners []func(prev, next *Image)
	pending   []change // committed, not yet delivered to listeners
	pidNext   int64    // next producer id to hand out, below image.ProducerIDsEnd unless a block is due
	err       error    // sticky: ErrClosed, or the failed append or flush

	deliverMu sync.Mutex // held while delivering, so listeners see commit order
}

// change is one committed change and the listeners registered at commit.
type change struct {
	prev, next *Image
	listeners  []func(prev, next *Image)
}

// Open replays the metadata log (a segment.Log, __cluster_metadata-0, made
// with MetadataLogConfig) into an image, writes the cluster id on the first
// start and registers this broker when its endpoint changed. The log stays
// the caller's: Close does not close it.
func Open(log *segment.Log, opts Options) (*Controller, error) {
	if opts.Broker.ID != opts.NodeID {
		return nil, fmt.Errorf("quorum: broker id %d is not node id %d", opts.Broker.ID, opts.NodeID)
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
			return nil, fmt.Errorf("quorum: %s %d", l.name, *l.v)
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	start := time.Now()
	im, err := replay(log, emptyImage(opts.NodeID))
	if err != nil {
		return nil, fmt.Errorf("quorum: replay %s: %w", log.Dir(), err)
	}
	c := &Controller{
		log: log,
		plan: planner{
			topicPartitionsMax:  opts.TopicPartitionsMax,
			brokerPartitionsMax: int(opts.BrokerPartitionsMax),
			topicsMax:           int(opts.TopicsMax),
			validateConfig:      opts.ValidateTopicConfig,
			random:              func(b []byte) { rand.Read(b) },
		},
		pidNext: im.ProducerIDsEnd,
	}
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
// with the previous and the new image, in commit order. Calls happen
// outside the controller's lock, one at a time, on the goroutine of a change
// method, which returns only after its change was delivered to every
// listener. fn may call Image but must not call a change method (that
// deadlocks).
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
	next, err := c.change(validateOnly, func(im *Image) ([]record, error) {
		return c.plan.createTopic(im, req, defaultPartitions, defaultRF)
	})
	if err != nil {
		return nil, err
	}
	return next.Topic(req.Name), nil
}

// DeleteTopic removes a topic and its config overrides.
func (c *Controller) DeleteTopic(name string) error {
	_, err := c.change(false, func(im *Image) ([]record, error) { return c.plan.deleteTopic(im, name) })
	return err
}

// CreatePartitions raises a topic's partition count to count.
func (c *Controller) CreatePartitions(name string, count int32, validateOnly bool) error {
	_, err := c.change(validateOnly, func(im *Image) ([]record, error) {
		return c.plan.createPartitions(im, name, count)
	})
	return err
}

// AlterTopicConfigs sets (value non-nil) or removes (nil) overrides, all or
// none.
func (c *Controller) AlterTopicConfigs(name string, set map[string]*string, validateOnly bool) error {
	_, err := c.change(validateOnly, func(im *Image) ([]record, error) {
		return c.plan.alterTopicConfigs(im, name, set)
	})
	return err
}

// AllocateProducerIDs reserves n (1 to 1000) producer ids, never handed out
// again even across restarts, and returns the first. Ids come from a block
// whose end is durable in the metadata log before any id of it is returned;
// the ids left in a block at shutdown are skipped.
func (c *Controller) AllocateProducerIDs(n int64) (int64, error) {
	c.mu.Lock()
	var first int64
	_, err := c.changeLocked(false, func(im *Image) ([]record, error) {
		recs, f, err := allocateProducerIDs(im, c.pidNext, n)
		first = f
		return recs, err
	})
	if err == nil {
		c.pidNext = first + n
	}
	c.mu.Unlock()
	c.deliver()
	if err != nil {
		return 0, err
	}
	return first, nil
}

// Close stops the controller: later changes fail with ErrClosed. The
// metadata log stays open; its owner (the data dir) closes it.
func (c *Controller) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = ErrClosed
	}
	return nil
}

// change plans records against the current image and commits them (unless
// validateOnly), then delivers the change to the listeners. It returns the
// new image (the would-be image when validateOnly).
func (c *Controller) change(validateOnly bool, plan func(im *Image) ([]record, error)) (*Image, error) {
	c.mu.Lock()
	next, err := c.changeLocked(validateOnly, plan)
	c.mu.Unlock()
	c.deliver()
	return next, err
}

func (c *Controller) changeLocked(validateOnly bool, plan func(im *Image) ([]record, error)) (*Image, error) {
	if c.err != nil {
		return nil, c.err
	}
	im := c.image.Load()
	recs, err := plan(im)
	if err != nil || len(recs) == 0 {
		return im, err
	}
	if validateOnly {
		return im.apply(recs, im.Offset)
	}
	return c.commitLocked(recs)
}

// commitLocked appends recs as one batch, flushes it and swaps in the new
// image. The image is built from the records decoded back from the batch,
// exactly as a replay after a restart builds it.
func (c *Controller) commitLocked(recs []record) (*Image, error) {
	prev := c.image.Load()
	batch := encodeBatch(recs, time.Now().UnixMilli())
	if limit := c.log.Config().BatchBytesMax; int64(len(batch)) > int64(limit) {
		return nil, fmt.Errorf("metadata change of %d bytes exceeds the metadata log's batch limit %d", len(batch), limit)
	}
	_, decoded, err := decodeBatch(batch)
	if err != nil {
		panic(fmt.Sprintf("quorum: a metadata batch does not decode: %v", err))
	}
	next, err := prev.apply(decoded, prev.Offset+int64(len(recs)))
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

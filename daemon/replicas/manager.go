package replicas

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
)

// TopicConfig is what a topic's effective configs set on its replicas.
type TopicConfig struct {
	Log        segment.Config
	MinISR     int           // min.insync.replicas
	LagTimeMax time.Duration // replica.lag.time.max.ms
}

// FetchConfig is the [replication] section's follower fetch settings.
type FetchConfig struct {
	WaitMax           time.Duration // replica_fetch_wait_max_ms
	PartitionBytesMax int32         // replica_fetch_max_bytes
	ResponseBytesMax  int32         // replica_fetch_response_max_bytes
	Backoff           time.Duration // replica_fetch_backoff_ms
	// FrameBytesMax bounds a Fetch or ListOffsets response frame read from
	// a leader.
	FrameBytesMax int
}

// ISRClient carries ISR proposals to the controller (quorum.Client's
// AlterPartition).
type ISRClient interface {
	AlterPartition(req quorum.AlterPartition) error
}

// Options configure a Manager.
type Options struct {
	DataDir *segment.DataDir
	NodeID  ids.NodeID
	// Metadata is the image the replicas follow: New applies its current
	// image and each change it reports.
	Metadata quorum.Reader
	ISR      ISRClient // nil: no ISR proposals (a single node)
	// TopicConfig is a topic's effective config in an image (whose
	// cluster-wide defaults it may read).
	TopicConfig func(*quorum.Image, *quorum.Topic) (TopicConfig, error)
	Fetch       FetchConfig
	// Dial connects to a leader's inter-broker listener (nil: plain TCP);
	// SASL, when set, authenticates each such connection.
	Dial Dialer
	SASL sasl.Mechanism
	// HWCheckpointInterval is replica.high.watermark.checkpoint.interval.ms
	// (DefaultHWCheckpointInterval when 0): how often Tick writes every
	// replica's HW to the data dir's replication-offset checkpoint, where a
	// restarted replica's HW starts.
	HWCheckpointInterval time.Duration
	Logger               *slog.Logger
}

// DefaultHWCheckpointInterval is Kafka's
// replica.high.watermark.checkpoint.interval.ms default.
const DefaultHWCheckpointInterval = 5 * time.Second

type topicPartition struct {
	topic     string
	partition int32
}

// hosted is one replica this broker hosts and the partition state it last
// acted on.
type hosted struct {
	p *replica.Partition
	// The leader and partition epochs of the image state the replica's
	// role was taken from; valid once roleSet.
	roleSet        bool
	epoch          ids.Epoch
	partitionEpoch int32
	replicas       []int32 // the image's replicas (immutable)
}

// Manager opens and closes the replicas this broker hosts so that they
// follow the metadata image, gives each the role the image assigns (leader,
// follower of a broker, leaderless), runs one fetcher per broker it
// follows, and sends the leaders' ISR proposals to the controller. It is
// the kafka.Partitions the handlers read.
//
// Lock order: Manager.mu, then a fetcher's mu.
type Manager struct {
	opts    Options
	log     *slog.Logger
	metrics counters
	isr     *isrSender

	mu       sync.RWMutex
	parts    map[topicPartition]*hosted
	ids      map[string][16]byte // topic ID each hosted topic was opened for
	fetchers map[ids.NodeID]*fetcher
	closed   bool

	hwCheckpointed atomic.Int64 // unix nanoseconds of the last HW checkpoint
}

// New opens the replicas the current image assigns to this broker, deletes
// the logs of topics that are gone, and follows each later change.
func New(opts Options) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HWCheckpointInterval <= 0 {
		opts.HWCheckpointInterval = DefaultHWCheckpointInterval
	}
	m := &Manager{
		opts:     opts,
		log:      opts.Logger,
		parts:    map[topicPartition]*hosted{},
		ids:      map[string][16]byte{},
		fetchers: map[ids.NodeID]*fetcher{},
	}
	m.isr = newISRSender(m)
	m.hwCheckpointed.Store(time.Now().UnixNano())
	opts.Metadata.OnChange(m.applyChange)
	m.apply(opts.Metadata.Image())
	return m
}

// Partition implements kafka.Partitions.
func (m *Manager) Partition(topic string, partition int32) *replica.Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if h := m.parts[topicPartition{topic, partition}]; h != nil {
		return h.p
	}
	return nil
}

// apply brings the hosted replicas in line with im, at start: it deletes
// the logs of topics that are gone (or were recreated under a new ID),
// opens the ones assigned to this broker, and pushes config changes to open
// logs. Errors are logged: one bad partition must not stop the others.
func (m *Manager) apply(im *quorum.Image) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for tp, h := range m.parts {
		t := im.Topic(tp.topic)
		if t != nil && t.ID == m.ids[tp.topic] && m.assigned(t, tp.partition) {
			continue
		}
		m.deleteLocked(tp, h)
	}
	m.deleteOrphanLogsLocked(im)
	for t := range im.Topics() {
		m.openTopicLocked(im, t)
	}
	m.pruneFetchersLocked()
}

// applyChange follows one committed change, from prev to next, as apply
// does but only for the topics the change touched (next.TopicsChanged):
// the cost of a change is that of its own partitions, however many others
// the broker hosts.
func (m *Manager) applyChange(prev, next *quorum.Image) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	for _, name := range next.TopicsChanged {
		t := next.Topic(name)
		if old := prev.Topic(name); old != nil && (t == nil || t.ID != old.ID) {
			m.deleteTopicLocked(old)
		}
		if t != nil {
			m.openTopicLocked(next, t)
		}
	}
	m.pruneFetchersLocked()
}

// deleteTopicLocked deletes the replicas and logs of a removed topic.
func (m *Manager) deleteTopicLocked(t *quorum.Topic) {
	delete(m.ids, t.Name)
	for _, mp := range t.Partitions {
		tp := topicPartition{t.Name, mp.ID}
		if h := m.parts[tp]; h != nil {
			m.deleteLocked(tp, h)
		} else if err := m.opts.DataDir.DeleteLog(tp.topic, tp.partition); err != nil {
			m.log.Error("deleting partition log", "topic", tp.topic, "partition", tp.partition, "err", err)
		}
	}
}

func (m *Manager) deleteLocked(tp topicPartition, h *hosted) {
	m.unfollowLocked(tp)
	delete(m.parts, tp)
	if err := h.p.Close(); err != nil {
		m.log.Warn("closing deleted partition", "topic", tp.topic, "partition", tp.partition, "err", err)
	}
	if err := m.opts.DataDir.DeleteLog(tp.topic, tp.partition); err != nil {
		m.log.Error("deleting partition log", "topic", tp.topic, "partition", tp.partition, "err", err)
	}
	m.log.Info("partition deleted", "topic", tp.topic, "partition", tp.partition)
}

// assigned reports whether partition of t (nil: none) is assigned to this
// broker.
func (m *Manager) assigned(t *quorum.Topic, partition int32) bool {
	return t != nil && partition >= 0 && int(partition) < len(t.Partitions) &&
		slices.Contains(t.Partitions[partition].Replicas, int32(m.opts.NodeID))
}

// deleteOrphanLogsLocked removes logs on disk that im assigns to no topic
// partition of this broker: a crash between committing a topic deletion
// (or a reassignment away from this broker) and removing its logs leaves
// them behind. (A topic deleted and recreated under the same name while the
// broker was down is not told apart: that needs the topic ID stored beside
// the log, as Kafka's partition.metadata does.)
func (m *Manager) deleteOrphanLogsLocked(im *quorum.Image) {
	var orphans []topicPartition
	m.opts.DataDir.Logs(func(topic string, partition int32, _ *segment.Log) {
		if topic != quorum.MetadataTopic && !m.assigned(im.Topic(topic), partition) {
			orphans = append(orphans, topicPartition{topic, partition})
		}
	})
	for _, tp := range orphans {
		if err := m.opts.DataDir.DeleteLog(tp.topic, tp.partition); err != nil {
			m.log.Error("deleting orphan log", "topic", tp.topic, "partition", tp.partition, "err", err)
		}
	}
}

// openTopicLocked opens or reconfigures t's replicas hosted here and gives
// each the role the image assigns; a replica no longer assigned here (a
// reassignment removed it) is deleted, as a deleted topic's.
func (m *Manager) openTopicLocked(im *quorum.Image, t *quorum.Topic) {
	cfg, err := m.opts.TopicConfig(im, t)
	if err != nil {
		m.log.Error("topic config", "topic", t.Name, "err", err)
		return
	}
	m.ids[t.Name] = t.ID
	for _, mp := range t.Partitions {
		tp := topicPartition{t.Name, mp.ID}
		h := m.parts[tp]
		if !slices.Contains(mp.Replicas, int32(m.opts.NodeID)) {
			if h != nil { // reassigned away from this broker
				m.deleteLocked(tp, h)
			}
			continue
		}
		if h != nil {
			if err := reconfigure(h.p, cfg); err != nil {
				m.log.Error("topic config change", "topic", t.Name, "partition", mp.ID, "err", err)
			}
		} else {
			p, err := m.open(tp, cfg)
			if err != nil {
				m.log.Error("opening partition", "topic", t.Name, "partition", mp.ID, "err", err)
				continue
			}
			h = &hosted{p: p}
			m.parts[tp] = h
		}
		m.transitionLocked(tp, h, mp)
	}
}

// reconfigure applies a topic's (possibly changed) configs to an open replica.
func reconfigure(p *replica.Partition, cfg TopicConfig) error {
	if p.Log().Config() != cfg.Log {
		if err := p.Log().SetConfig(cfg.Log); err != nil {
			return err
		}
	}
	if err := p.SetLagTimeMax(cfg.LagTimeMax); err != nil {
		return err
	}
	return p.SetMinInsyncReplicas(cfg.MinISR)
}

func (m *Manager) open(tp topicPartition, cfg TopicConfig) (*replica.Partition, error) {
	l, err := m.opts.DataDir.CreateLog(tp.topic, tp.partition, cfg.Log)
	if err != nil {
		return nil, err
	}
	if l.Config() != cfg.Log {
		if err := l.SetConfig(cfg.Log); err != nil {
			return nil, err
		}
	}
	hw, _ := m.opts.DataDir.HighWatermark(tp.topic, tp.partition)
	opts := replica.Options{
		Topic:             tp.topic,
		Partition:         tp.partition,
		NodeID:            int32(m.opts.NodeID),
		LeaderEpoch:       -1, // the role comes from transitionLocked
		MinInsyncReplicas: cfg.MinISR,
		Logger:            m.log,
		HighWatermark:     hw,
		Eligible:          m.eligible,
		LagTimeMax:        cfg.LagTimeMax,
	}
	if m.opts.ISR != nil {
		opts.ProposeISR = m.isr.propose
	}
	return replica.Open(l, opts)
}

// Tick runs each log's time-driven work (roll by age, flush.ms, retention,
// delayed file deletion) and each replica's (ISR shrink after
// replica.lag.time.max.ms), and checkpoints the HWs every
// HWCheckpointInterval.
func (m *Manager) Tick() {
	m.opts.DataDir.Logs(func(topic string, partition int32, l *segment.Log) {
		if err := l.Tick(); err != nil && !errors.Is(err, segment.ErrClosed) {
			m.log.Error("log maintenance", "topic", topic, "partition", partition, "err", err)
		}
	})
	now := time.Now()
	m.mu.RLock()
	for _, h := range m.parts {
		h.p.Tick(now)
	}
	var hws []segment.PartitionOffset
	if now.Sub(time.Unix(0, m.hwCheckpointed.Load())) >= m.opts.HWCheckpointInterval && !m.closed {
		m.hwCheckpointed.Store(now.UnixNano())
		hws = m.highWatermarksLocked()
	}
	m.mu.RUnlock()
	if hws != nil {
		m.checkpointHWs(hws, false)
	}
}

// FlushDue fdatasyncs each log whose unsynced data is flush.ms old (see
// segment.Log.FlushIfDue); the owner calls it more often than Tick.
func (m *Manager) FlushDue() {
	m.opts.DataDir.Logs(func(topic string, partition int32, l *segment.Log) {
		if err := l.FlushIfDue(); err != nil && !errors.Is(err, segment.ErrClosed) {
			m.log.Error("log flush", "topic", topic, "partition", partition, "err", err)
		}
	})
}

// highWatermarksLocked lists every hosted replica's HW; mu must be held.
func (m *Manager) highWatermarksLocked() []segment.PartitionOffset {
	hws := make([]segment.PartitionOffset, 0, len(m.parts))
	for tp, h := range m.parts {
		hws = append(hws, segment.PartitionOffset{Topic: tp.topic, Partition: tp.partition, Offset: h.p.HighWatermark()})
	}
	return hws
}

// checkpointHWs writes hws to the replication-offset checkpoint, durably
// only at close (see segment.DataDir.CheckpointHighWatermarks). A failure
// is logged: a restart then starts from older HWs, which only delays
// consumers until the leaders' next HWs.
func (m *Manager) checkpointHWs(hws []segment.PartitionOffset, durable bool) {
	if err := m.opts.DataDir.CheckpointHighWatermarks(hws, durable); err != nil && !errors.Is(err, segment.ErrClosed) {
		m.log.Warn("HW checkpoint not written", "err", err)
	}
}

// Close stops the fetchers and ISR proposals, snapshots producer state of
// every hosted replica and checkpoints their HWs; the data dir closes the
// logs.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for tp := range m.parts {
		m.unfollowLocked(tp)
	}
	m.pruneFetchersLocked()
	m.isr.close()
	m.checkpointHWs(m.highWatermarksLocked(), true)
	var errs []error
	for tp, h := range m.parts {
		if err := h.p.Close(); err != nil {
			errs = append(errs, fmt.Errorf("partition %s-%d: %w", tp.topic, tp.partition, err))
		}
	}
	m.parts = map[topicPartition]*hosted{}
	return errors.Join(errs...)
}

// Each calls fn for every hosted replica.
func (m *Manager) Each(fn func(topic string, partition int32, p *replica.Partition)) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for tp, h := range m.parts {
		fn(tp.topic, tp.partition, h.p)
	}
}

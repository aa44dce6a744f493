package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
)

// metadataTopic is the metadata log's partition directory name.
const metadataTopic = "__cluster_metadata"

// partitionConfig is what a topic's effective configs set on its replicas.
type partitionConfig struct {
	log    segment.Config
	minISR int
}

type topicPartition struct {
	topic     string
	partition int32
}

// partitionSet opens and closes the replicas this broker hosts so that they
// follow the metadata image. It is the kafka.Partitions the handlers read.
type partitionSet struct {
	dataDir     *segment.DataDir
	nodeID      int32
	topicConfig func(*quorum.Topic) (partitionConfig, error)
	log         *slog.Logger

	mu    sync.RWMutex
	parts map[topicPartition]*replica.Partition
	ids   map[string][16]byte // topic ID each hosted topic was opened for
}

// Partition implements kafka.Partitions.
func (s *partitionSet) Partition(topic string, partition int32) *replica.Partition {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.parts[topicPartition{topic, partition}]
}

// apply brings the hosted replicas in line with im, at start: it deletes
// the logs of topics that are gone (or were recreated under a new ID),
// opens the ones assigned to this broker, and pushes config changes to open
// logs. Errors are logged: one bad partition must not stop the others.
func (s *partitionSet) apply(im *quorum.Image) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tp, p := range s.parts {
		t := im.Topic(tp.topic)
		if t != nil && t.ID == s.ids[tp.topic] && int(tp.partition) < len(t.Partitions) {
			continue
		}
		s.deleteLocked(tp, p)
	}
	s.deleteOrphanLogsLocked(im)
	for t := range im.Topics() {
		s.openTopicLocked(t)
	}
}

// applyChange follows one committed change, from prev to next, as apply
// does but only for the topics the change touched (next.TopicsChanged):
// the cost of a change is that of its own partitions, however many others
// the broker hosts.
func (s *partitionSet) applyChange(prev, next *quorum.Image) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range next.TopicsChanged {
		t := next.Topic(name)
		if old := prev.Topic(name); old != nil && (t == nil || t.ID != old.ID) {
			s.deleteTopicLocked(old)
		}
		if t != nil {
			s.openTopicLocked(t)
		}
	}
}

// deleteTopicLocked deletes the replicas and logs of a removed topic.
func (s *partitionSet) deleteTopicLocked(t *quorum.Topic) {
	delete(s.ids, t.Name)
	for _, mp := range t.Partitions {
		tp := topicPartition{t.Name, mp.ID}
		if p := s.parts[tp]; p != nil {
			s.deleteLocked(tp, p)
		} else if err := s.dataDir.DeleteLog(tp.topic, tp.partition); err != nil {
			s.log.Error("deleting partition log", "topic", tp.topic, "partition", tp.partition, "err", err)
		}
	}
}

func (s *partitionSet) deleteLocked(tp topicPartition, p *replica.Partition) {
	delete(s.parts, tp)
	if err := p.Close(); err != nil {
		s.log.Warn("closing deleted partition", "topic", tp.topic, "partition", tp.partition, "err", err)
	}
	if err := s.dataDir.DeleteLog(tp.topic, tp.partition); err != nil {
		s.log.Error("deleting partition log", "topic", tp.topic, "partition", tp.partition, "err", err)
	}
	s.log.Info("partition deleted", "topic", tp.topic, "partition", tp.partition)
}

// deleteOrphanLogsLocked removes logs on disk that no topic in im owns: a
// crash between committing a topic deletion and removing its logs leaves
// them behind. (A topic deleted and recreated under the same name while the
// broker was down is not told apart: that needs the topic ID stored beside
// the log, as Kafka's partition.metadata does.)
func (s *partitionSet) deleteOrphanLogsLocked(im *quorum.Image) {
	var orphans []topicPartition
	s.dataDir.Logs(func(topic string, partition int32, _ *segment.Log) {
		if t := im.Topic(topic); topic != metadataTopic && (t == nil || int(partition) >= len(t.Partitions)) {
			orphans = append(orphans, topicPartition{topic, partition})
		}
	})
	for _, tp := range orphans {
		if err := s.dataDir.DeleteLog(tp.topic, tp.partition); err != nil {
			s.log.Error("deleting orphan log", "topic", tp.topic, "partition", tp.partition, "err", err)
		}
	}
}

func (s *partitionSet) openTopicLocked(t *quorum.Topic) {
	cfg, err := s.topicConfig(t)
	if err != nil {
		s.log.Error("topic config", "topic", t.Name, "err", err)
		return
	}
	s.ids[t.Name] = t.ID
	for _, mp := range t.Partitions {
		if !slices.Contains(mp.Replicas, s.nodeID) {
			continue
		}
		tp := topicPartition{t.Name, mp.ID}
		if p := s.parts[tp]; p != nil {
			if err := reconfigure(p, cfg); err != nil {
				s.log.Error("topic config change", "topic", t.Name, "partition", mp.ID, "err", err)
			}
			continue
		}
		p, err := s.open(tp, mp, cfg)
		if err != nil {
			s.log.Error("opening partition", "topic", t.Name, "partition", mp.ID, "err", err)
			continue
		}
		s.parts[tp] = p
	}
}

// reconfigure applies a topic's (possibly changed) configs to an open replica.
func reconfigure(p *replica.Partition, cfg partitionConfig) error {
	if p.Log().Config() != cfg.log {
		if err := p.Log().SetConfig(cfg.log); err != nil {
			return err
		}
	}
	return p.SetMinInsyncReplicas(cfg.minISR)
}

func (s *partitionSet) open(tp topicPartition, mp quorum.Partition, cfg partitionConfig) (*replica.Partition, error) {
	l, err := s.dataDir.CreateLog(tp.topic, tp.partition, cfg.log)
	if err != nil {
		return nil, err
	}
	if l.Config() != cfg.log {
		if err := l.SetConfig(cfg.log); err != nil {
			return nil, err
		}
	}
	return replica.Open(l, replica.Options{
		Topic:             tp.topic,
		Partition:         tp.partition,
		NodeID:            s.nodeID,
		LeaderEpoch:       mp.LeaderEpoch,
		MinInsyncReplicas: cfg.minISR,
		Logger:            s.log,
	})
}

// tick runs each log's time-driven work (roll by age, flush.ms, retention,
// delayed file deletion).
func (s *partitionSet) tick() {
	s.dataDir.Logs(func(topic string, partition int32, l *segment.Log) {
		if err := l.Tick(); err != nil && !errors.Is(err, segment.ErrClosed) {
			s.log.Error("log maintenance", "topic", topic, "partition", partition, "err", err)
		}
	})
}

// close snapshots producer state of every hosted replica; the data dir
// closes the logs.
func (s *partitionSet) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for tp, p := range s.parts {
		if err := p.Close(); err != nil {
			errs = append(errs, fmt.Errorf("partition %s-%d: %w", tp.topic, tp.partition, err))
		}
	}
	s.parts = map[topicPartition]*replica.Partition{}
	return errors.Join(errs...)
}

// each calls fn for every hosted replica.
func (s *partitionSet) each(fn func(topicPartition, *replica.Partition)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for tp, p := range s.parts {
		fn(tp, p)
	}
}

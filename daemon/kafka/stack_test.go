package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon/replicas"
	"github.com/riffle/riffle/internal/kafkatest"
	"github.com/riffle/riffle/netio"
	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
	"github.com/riffle/riffle/segment/vfs"
)

// brokerStack is a broker over a real data dir and controller whose hosted
// partitions follow the metadata through the daemon's replica manager: a
// topic's replicas open when the controller commits it and close when it
// is deleted. It drives ServeFrame in-process.
type brokerStack struct {
	t     testing.TB
	b     *Broker
	ctrl  *quorum.Controller
	parts *replicas.Manager
	cfg   Config
	topic string // the topic newTopicStack created

	lookups atomic.Int64 // Partition calls, to tell fetch read passes apart
	// hold keeps the manager from seeing metadata changes (a broker that
	// lags the metadata: new partitions are not opened).
	hold atomic.Bool
}

const stackNodeID = 1

func (s *brokerStack) Partition(topic string, partition int32) *replica.Partition {
	s.lookups.Add(1)
	return s.parts.Partition(topic, partition)
}

// heldMetadata is the controller as the manager sees it: changes are
// dropped while the stack holds.
type heldMetadata struct {
	*quorum.Controller
	s *brokerStack
}

func (h heldMetadata) OnChange(fn func(prev, next *quorum.Image)) {
	h.Controller.OnChange(func(prev, next *quorum.Image) {
		if !h.s.hold.Load() {
			fn(prev, next)
		}
	})
}

// stackConfig is the Config stack tests start from.
func stackConfig() Config {
	return Config{AutoCreateTopics: true, DefaultPartitions: 1, DefaultReplicationFactor: 1,
		CompressionValidation: true, TopicDefaults: quorum.TopicDefaults{}}
}

func newBrokerStack(t testing.TB, cfg Config) *brokerStack {
	t.Helper()
	return newBrokerStackLimits(t, cfg, quorum.Options{})
}

// newBrokerStackLimits is newBrokerStack with the controller's limits
// (TopicPartitionsMax, BrokerPartitionsMax, TopicsMax) taken from limits.
func newBrokerStackLimits(t testing.TB, cfg Config, limits quorum.Options) *brokerStack {
	t.Helper()
	return newBrokerStackOn(t, cfg, limits, stackStorage{})
}

// stackStorage is how a stack's data dir stores: its filesystem (the OS
// when nil), a hook called per fdatasync flush of a log, and the broker-wide
// log.sync_every_append.
type stackStorage struct {
	fs              vfs.FS
	onSync          func(time.Duration)
	syncEveryAppend bool
}

func newBrokerStackOn(t testing.TB, cfg Config, limits quorum.Options, st stackStorage) *brokerStack {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	segCfg := segment.DefaultConfig()
	dd, err := segment.OpenDataDir(t.TempDir(), func(string) segment.Config { return segCfg },
		segment.Options{Logger: quiet, FS: st.fs, OnSync: st.onSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dd.Close() })
	mlog, err := dd.CreateLog(quorum.MetadataTopic, 0, quorum.MetadataLogConfig(segCfg))
	if err != nil {
		t.Fatal(err)
	}
	opts := quorum.Options{NodeID: stackNodeID, ValidateTopicConfig: quorum.ValidateTopicConfig,
		Broker: quorum.Broker{ID: stackNodeID, Host: "127.0.0.1", Port: 9092}, Logger: quiet,
		TopicPartitionsMax: limits.TopicPartitionsMax, BrokerPartitionsMax: limits.BrokerPartitionsMax, TopicsMax: limits.TopicsMax}
	ctrl, err := quorum.Open(mlog, opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg.NodeID, cfg.Logger = stackNodeID, quiet
	s := &brokerStack{t: t, ctrl: ctrl, cfg: cfg}
	s.parts = replicas.New(replicas.Options{
		DataDir: dd, NodeID: stackNodeID, Metadata: heldMetadata{ctrl, s}, Logger: quiet,
		TopicConfig: func(im *quorum.Image, t *quorum.Topic) (replicas.TopicConfig, error) {
			sc, err := quorum.Defaults{Cluster: im.ClusterConfigs, Static: cfg.TopicDefaults}.SegmentConfig(t.Configs)
			sc.SyncEveryAppend = st.syncEveryAppend
			return replicas.TopicConfig{Log: sc}, err
		},
	})
	t.Cleanup(func() {
		ctrl.Close()
		s.parts.Close()
	})
	s.b = New(cfg, ctrl, s)
	return s
}

// createTopic creates a topic through the controller.
func (s *brokerStack) createTopic(name string, partitions int32, configs map[string]string) *quorum.Topic {
	s.t.Helper()
	t, err := s.ctrl.CreateTopic(quorum.CreateTopic{Name: name, Partitions: partitions, ReplicationFactor: 1, Configs: configs}, 1, 1, false)
	if err != nil {
		s.t.Fatal(err)
	}
	return t
}

// leo is a hosted partition's log end offset.
func (s *brokerStack) leo(topic string, partition int32) int64 {
	s.t.Helper()
	p := s.Partition(topic, partition)
	if p == nil {
		s.t.Fatalf("%s-%d not hosted", topic, partition)
	}
	return p.Log().LogEndOffset()
}

// serve runs one request frame and returns the raw pieces' bytes (nil for
// no response) and the handler's error.
func (s *brokerStack) serve(req kmsg.Request) ([]byte, error) {
	pieces, err := s.b.ServeFrame(context.Background(), &netio.Conn{}, kafkatest.Frame(req, 3))
	if err != nil || len(pieces) == 0 {
		return nil, err
	}
	return materialise(s.t, pieces), nil
}

// newTopicStack is a stack with one topic, "events", of the given
// partitions.
func newTopicStack(t testing.TB, cfg Config, partitions int32) *brokerStack {
	t.Helper()
	s := newBrokerStack(t, cfg)
	s.topic = "events"
	s.createTopic(s.topic, partitions, nil)
	return s
}

// partition is a partition of the stack's topic, not counted in lookups.
func (s *brokerStack) partition(id int32) *replica.Partition {
	return s.parts.Partition(s.topic, id)
}

// produce appends a batch of n records with timestamps ts, ts+1, ... and
// returns its bytes as stored (base offset assigned).
func (s *brokerStack) produce(t testing.TB, partition int32, n int, ts int64) []byte {
	t.Helper()
	records := make([]segment.Record, n)
	for i := range records {
		records[i] = segment.Record{Value: []byte("value"), TimestampDelta: int64(i)}
	}
	batch := segment.EncodeBatch(nil, segment.BatchSpec{BaseTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, records)
	if _, err := s.partition(partition).AppendAsLeader(valid(t, batch), -1, -1); err != nil {
		t.Fatalf("produce to %d: %v", partition, err)
	}
	return batch
}

// valid validates a batch the test built.
func valid(t testing.TB, b []byte) segment.Batch {
	t.Helper()
	v, err := segment.ValidateBatch(b, math.MaxInt32)
	if err != nil {
		t.Fatalf("test batch invalid: %v", err)
	}
	return v
}

// roundTrip serves req and decodes the response of the same version.
func roundTrip[R kmsg.Response](t testing.TB, b *Broker, req kmsg.Request) R {
	t.Helper()
	resp, err := exchange[R](b, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// exchange is roundTrip for goroutines other than the test's.
func exchange[R kmsg.Response](b *Broker, req kmsg.Request) (R, error) {
	resp := req.ResponseKind().(R)
	resp.SetVersion(req.GetVersion())
	name := fmt.Sprintf("%s v%d", kmsg.NameForKey(req.Key()), req.GetVersion())
	pieces, err := b.ServeFrame(context.Background(), &netio.Conn{}, kafkatest.Frame(req, 42))
	if err != nil {
		return resp, fmt.Errorf("%s: %w", name, err)
	}
	raw, err := concatPieces(pieces)
	if err != nil {
		return resp, fmt.Errorf("%s: %w", name, err)
	}
	body := raw[4:]
	if resp.IsFlexible() {
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		return resp, fmt.Errorf("%s response: %w", name, err)
	}
	return resp, nil
}

// fetchReq builds a fetch of the stack's topic at the given offsets by
// partition.
func (s *brokerStack) fetchReq(version int16, offsets map[int32]int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(version)
	req.MaxBytes = 1 << 20
	req.SessionEpoch = -1
	if len(offsets) == 0 {
		return req
	}
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = s.topic
	for p := int32(0); p < 64; p++ {
		if off, ok := offsets[p]; ok {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, off, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
	}
	req.Topics = append(req.Topics, rt)
	return req
}

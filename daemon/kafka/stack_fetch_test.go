package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/kafkatest"
	"github.com/riffle/riffle/netio"
	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
)

// fetchStack is a broker over a real data dir, controller and replicas,
// with one topic, for driving ServeFrame in-process.
type fetchStack struct {
	b       *Broker
	topic   string
	mu      sync.Mutex
	parts   map[topicPartition]*replica.Partition
	lookups atomic.Int64 // Partition calls, to tell read passes apart
}

func (s *fetchStack) Partition(topic string, partition int32) *replica.Partition {
	s.lookups.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.parts[topicPartition{topic, partition}]
}

const stackNodeID = 1

func newFetchStack(t testing.TB, cfg Config, partitions int32) *fetchStack {
	t.Helper()
	segCfg := segment.DefaultConfig()
	quiet := slog.New(slog.DiscardHandler)
	dd, err := segment.OpenDataDir(t.TempDir(), func(string) segment.Config { return segCfg }, segment.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dd.Close() })
	mlog, err := dd.CreateLog("__cluster_metadata", 0, quorum.MetadataLogConfig(segCfg))
	if err != nil {
		t.Fatal(err)
	}
	ctrl, err := quorum.Open(mlog, quorum.Options{NodeID: stackNodeID,
		Broker: quorum.Broker{ID: stackNodeID, Host: "127.0.0.1", Port: 9092}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctrl.Close() })
	s := &fetchStack{topic: "events", parts: map[topicPartition]*replica.Partition{}}
	top, err := ctrl.CreateTopic(quorum.CreateTopic{Name: s.topic, Partitions: partitions, ReplicationFactor: 1}, 1, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, mp := range top.Partitions {
		l, err := dd.CreateLog(s.topic, mp.ID, segCfg)
		if err != nil {
			t.Fatal(err)
		}
		p, err := replica.Open(l, replica.Options{Topic: s.topic, Partition: mp.ID, NodeID: stackNodeID, LeaderEpoch: mp.LeaderEpoch, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		s.parts[topicPartition{s.topic, mp.ID}] = p
	}
	cfg.NodeID, cfg.Logger = stackNodeID, quiet
	s.b = New(cfg, ctrl, s)
	return s
}

func (s *fetchStack) partition(id int32) *replica.Partition {
	return s.parts[topicPartition{s.topic, id}]
}

// produce appends a batch of n records with timestamps ts, ts+1, ... and
// returns its bytes as stored (base offset assigned).
func (s *fetchStack) produce(t testing.TB, partition int32, n int, ts int64) []byte {
	t.Helper()
	records := make([]segment.Record, n)
	for i := range records {
		records[i] = segment.Record{Value: []byte("value"), TimestampDelta: int64(i)}
	}
	batch := segment.EncodeBatch(nil, segment.BatchSpec{BaseTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, records)
	if _, err := s.partition(partition).AppendAsLeader(batch, -1, -1); err != nil {
		t.Fatalf("produce to %d: %v", partition, err)
	}
	return batch
}

// roundTrip serves req and decodes the response of the same version.
func roundTrip[R kmsg.Response](t *testing.T, b *Broker, req kmsg.Request) R {
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
func (s *fetchStack) fetchReq(version int16, offsets map[int32]int64) *kmsg.FetchRequest {
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

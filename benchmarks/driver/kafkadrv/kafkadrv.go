// Package kafkadrv drives any Kafka-compatible cluster through franz-go's
// kgo client: one client per producer and per consumer, settings taken
// from the scenario (acks, linger, batch size, compression, idempotence).
package kafkadrv

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/benchmarks/driver"
	"github.com/riffle/riffle/benchmarks/internal/modver"
	"github.com/riffle/riffle/benchmarks/workload"
)

// System is a Kafka cluster reached through its bootstrap addresses.
type System struct {
	seeds []string
	admin *kgo.Client
}

var _ driver.System = (*System)(nil)

// New connects to the cluster at the bootstrap addresses.
func New(seeds ...string) (*System, error) {
	admin, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return nil, fmt.Errorf("kafka %v: %w", seeds, err)
	}
	return &System{seeds: seeds, admin: admin}, nil
}

// Close closes the admin client.
func (k *System) Close() { k.admin.Close() }

// CreateTopics creates the topics; an existing topic is an error, since a
// run's records must start at offset 0.
func (k *System) CreateTopics(ctx context.Context, topics []string, s *workload.Scenario) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	for _, name := range topics {
		t := kmsg.NewCreateTopicsRequestTopic()
		t.Topic = name
		t.NumPartitions = int32(s.Partitions)
		t.ReplicationFactor = int16(s.ReplicationFactor)
		req.Topics = append(req.Topics, t)
	}
	resp, err := req.RequestWith(ctx, k.admin)
	if err != nil {
		return fmt.Errorf("kafka create topics: %w", err)
	}
	var errs []error
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			errs = append(errs, fmt.Errorf("kafka create topic %s: %w", t.Topic, err))
		}
	}
	return errors.Join(errs...)
}

// ProducerOpts are the kgo options of a scenario's producers.
func (k *System) ProducerOpts(s *workload.Scenario) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(k.seeds...),
		kgo.ProducerLinger(s.Linger.Std()),
		kgo.ProducerBatchCompression(codec(s.Compression)),
		kgo.RequiredAcks(acks(s.Acks)),
		// A paced run must never drop records on its own: the latency of a
		// slow broker is what is measured.
		kgo.ProduceRequestTimeout(time.Minute),
	}
	if !s.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if s.BatchBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(int32(s.BatchBytes)))
	}
	if s.MaxBufferedRecords > 0 {
		opts = append(opts, kgo.MaxBufferedRecords(s.MaxBufferedRecords))
	}
	return opts
}

// Settings reports the kgo settings a scenario maps to.
func (k *System) Settings(s *workload.Scenario) map[string]string {
	buffered := "50000 (default)"
	if s.MaxBufferedRecords > 0 {
		buffered = strconv.Itoa(s.MaxBufferedRecords)
	}
	batch := "1000012 (default)"
	if s.BatchBytes > 0 {
		batch = strconv.Itoa(s.BatchBytes)
	}
	return map[string]string{
		"client":               modver.Of("github.com/twmb/franz-go"),
		"bootstrap":            fmt.Sprint(k.seeds),
		"acks":                 s.Acks,
		"idempotent":           strconv.FormatBool(s.Idempotent),
		"linger":               s.Linger.Std().String(),
		"batch_max_bytes":      batch,
		"compression":          s.Compression,
		"max_buffered_records": buffered,
		"partitioner":          "franz-go default (uniform bytes, sticky for null keys; murmur2 for keys)",
		"consumer":             consumerMode(s),
	}
}

func consumerMode(s *workload.Scenario) string {
	if s.ConsumerGroup {
		return "consumer group per topic, from the earliest offset"
	}
	return "direct partition assignment, split among the topic's consumers, from the earliest offset"
}

func codec(name string) kgo.CompressionCodec {
	switch name {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	default:
		return kgo.NoCompression()
	}
}

func acks(a string) kgo.Acks {
	switch a {
	case workload.AcksLeader:
		return kgo.LeaderAck()
	case workload.AcksNone:
		return kgo.NoAck()
	default:
		return kgo.AllISRAcks()
	}
}

type producer struct {
	client  *kgo.Client
	topic   string
	promise func(*kgo.Record, error)
}

// NewProducer returns a kgo producer of topic.
func (k *System) NewProducer(topic string, s *workload.Scenario, h driver.ProducerHandler) (driver.Producer, error) {
	cl, err := kgo.NewClient(k.ProducerOpts(s)...)
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	return &producer{client: cl, topic: topic, promise: func(r *kgo.Record, err error) {
		if err != nil {
			h.Failed(err)
			return
		}
		h.Acked(r.Value, time.Now())
	}}, nil
}

func (p *producer) Send(ctx context.Context, key, value []byte) error {
	p.client.Produce(ctx, &kgo.Record{Topic: p.topic, Key: key, Value: value}, p.promise)
	return nil
}

func (p *producer) Flush(ctx context.Context) error { return p.client.Flush(ctx) }
func (p *producer) Close()                          { p.client.Close() }

type consumer struct {
	client *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

// NewConsumer starts a kgo consumer: in the topic's group, or of every
// count-th partition starting at index.
func (k *System) NewConsumer(topic string, index, count int, s *workload.Scenario, h driver.ConsumerHandler) (driver.Consumer, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(k.seeds...)}
	if s.ConsumerGroup {
		opts = append(opts, kgo.ConsumerGroup(topic+"-group"), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	} else {
		parts := map[int32]kgo.Offset{}
		for p := index; p < s.Partitions; p += count {
			parts[int32(p)] = kgo.NewOffset().AtStart()
		}
		if len(parts) == 0 {
			return nil, fmt.Errorf("kafka consumer %d of %d: no partition left of %d", index, count, s.Partitions)
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{client: cl, cancel: cancel, done: make(chan struct{})}
	go c.poll(ctx, h)
	return c, nil
}

func (c *consumer) poll(ctx context.Context, h driver.ConsumerHandler) {
	defer close(c.done)
	for ctx.Err() == nil {
		fs := c.client.PollFetches(ctx)
		now := time.Now()
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				h.Failed(fmt.Errorf("fetch %s/%d: %w", topic, p, err))
			}
		})
		fs.EachRecord(func(r *kgo.Record) { h.Received(r.Value, now) })
	}
}

func (c *consumer) Close() {
	c.cancel()
	<-c.done
	c.client.Close()
}

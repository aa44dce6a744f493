// Package natsdrv drives a NATS server's JetStream through the nats.go
// client, as a peer to compare Kafka-compatible brokers with: a topic is a
// stream with file storage and one subject (streams have no partitions
// and records no keys), a producer publishes asynchronously within a
// window of unacknowledged messages, and a consumer is an ordered
// consumer (or, with several consumers, a shared pull consumer).
package natsdrv

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/riffle/riffle/benchmarks/driver"
	"github.com/riffle/riffle/benchmarks/internal/modver"
	"github.com/riffle/riffle/benchmarks/workload"
)

// defaultWindow is the async publish window when the scenario sets none.
const defaultWindow = 4096

// System is a NATS server with JetStream enabled.
type System struct {
	url string
	nc  *nats.Conn
	js  jetstream.JetStream
}

var _ driver.System = (*System)(nil)

// New connects to the server at url ("nats://host:port").
func New(url string) (*System, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats %s: jetstream: %w", url, err)
	}
	return &System{url: url, nc: nc, js: js}, nil
}

// Close closes the admin connection.
func (n *System) Close() { n.nc.Close() }

// CreateTopics creates one file-stored stream per topic.
func (n *System) CreateTopics(ctx context.Context, topics []string, s *workload.Scenario) error {
	for _, t := range topics {
		_, err := n.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:     t,
			Subjects: []string{t},
			Storage:  jetstream.FileStorage,
			Replicas: s.ReplicationFactor,
		})
		if err != nil {
			return fmt.Errorf("nats create stream %s: %w", t, err)
		}
	}
	return nil
}

func window(s *workload.Scenario) int {
	if s.MaxBufferedRecords > 0 {
		return s.MaxBufferedRecords
	}
	return defaultWindow
}

// Settings reports how the scenario maps onto JetStream.
func (n *System) Settings(s *workload.Scenario) map[string]string {
	consumer := "ordered consumer per consumer"
	if s.ConsumersPerTopic > 1 {
		consumer = "one shared durable pull consumer per stream, ack none"
	}
	return map[string]string{
		"client":         modver.Of("github.com/nats-io/nats.go"),
		"url":            n.url,
		"publish":        "PublishAsync, window " + strconv.Itoa(window(s)) + " unacknowledged messages",
		"storage":        "file",
		"replicas":       strconv.Itoa(s.ReplicationFactor),
		"partitions":     "n/a (one stream, one subject per topic)",
		"keys":           "n/a (not sent)",
		"acks":           "PubAck after the stream stored the message (always)",
		"linger":         "n/a",
		"batch_bytes":    "n/a",
		"compression":    "none",
		"idempotent":     "n/a (no message IDs sent)",
		"consumer":       consumer,
		"deliver_policy": "all",
	}
}

type producer struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	subject string
	opts    []jetstream.PublishOpt
}

// NewProducer returns an async publisher on its own connection.
func (n *System) NewProducer(topic string, s *workload.Scenario, h driver.ProducerHandler) (driver.Producer, error) {
	nc, err := nats.Connect(n.url)
	if err != nil {
		return nil, fmt.Errorf("nats producer: %w", err)
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(window(s)),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) {
			h.Acked(m.Data, time.Now())
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
			h.Failed(err)
		}),
	)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats producer: %w", err)
	}
	// Block while the window is full, as a Kafka client blocks on a full
	// buffer, instead of failing after the default 200 ms.
	return &producer{nc: nc, js: js, subject: topic, opts: []jetstream.PublishOpt{jetstream.WithStallWait(time.Minute)}}, nil
}

func (p *producer) Send(_ context.Context, _, value []byte) error {
	_, err := p.js.PublishAsync(p.subject, value, p.opts...)
	if err != nil {
		return fmt.Errorf("nats publish: %w", err)
	}
	return nil
}

func (p *producer) Flush(ctx context.Context) error {
	select {
	case <-p.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("nats flush: %d unacknowledged: %w", p.js.PublishAsyncPending(), ctx.Err())
	}
}

func (p *producer) Close() { p.nc.Close() }

type consumer struct {
	nc   *nats.Conn
	cctx jetstream.ConsumeContext
}

// NewConsumer starts an ordered consumer of the topic's stream, or with
// several consumers per topic, a member of a shared durable consumer.
func (n *System) NewConsumer(topic string, _, count int, s *workload.Scenario, h driver.ConsumerHandler) (driver.Consumer, error) {
	nc, err := nats.Connect(n.url)
	if err != nil {
		return nil, fmt.Errorf("nats consumer: %w", err)
	}
	c, err := openConsumer(nc, topic, count)
	if err == nil {
		var cctx jetstream.ConsumeContext
		cctx, err = c.Consume(func(m jetstream.Msg) { h.Received(m.Data(), time.Now()) },
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				if !errors.Is(err, nats.ErrConnectionClosed) {
					h.Failed(err)
				}
			}))
		if err == nil {
			return &consumer{nc: nc, cctx: cctx}, nil
		}
	}
	nc.Close()
	return nil, fmt.Errorf("nats consumer of %s: %w", topic, err)
}

func openConsumer(nc *nats.Conn, stream string, count int) (jetstream.Consumer, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if count <= 1 {
		return js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	}
	return js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:       stream + "-group",
		AckPolicy:     jetstream.AckNonePolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
}

func (c *consumer) Close() {
	c.cctx.Stop()
	c.nc.Close()
}

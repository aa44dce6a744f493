package driver

import (
	"context"
	"time"

	"github.com/riffle/riffle/benchmarks/workload"
)

// System is one messaging system as the driver uses it. Implementations
// map a topic to their own notion (a Kafka topic, a JetStream stream).
type System interface {
	// CreateTopics creates the named topics with the scenario's partitions
	// and replication factor.
	CreateTopics(ctx context.Context, topics []string, s *workload.Scenario) error
	// NewProducer returns a producer of topic that reports each outcome to h.
	NewProducer(topic string, s *workload.Scenario, h ProducerHandler) (Producer, error)
	// NewConsumer starts consumer index of count on topic, reading from
	// the beginning, and delivers records to h until closed.
	NewConsumer(topic string, index, count int, s *workload.Scenario, h ConsumerHandler) (Consumer, error)
	// Settings are the client settings in force, stored with the result.
	Settings(s *workload.Scenario) map[string]string
	Close()
}

// ProducerHandler receives a producer's outcomes, possibly from another
// goroutine than the one sending. value is the record's value as sent.
type ProducerHandler interface {
	Acked(value []byte, at time.Time)
	Failed(err error)
}

// ConsumerHandler receives a consumer's records and errors.
type ConsumerHandler interface {
	Received(value []byte, at time.Time)
	Failed(err error)
}

// Producer sends records asynchronously.
type Producer interface {
	// Send hands one record to the client; it may block while the
	// client's buffer is full. Outcomes go to the ProducerHandler.
	Send(ctx context.Context, key, value []byte) error
	// Flush waits until every record sent so far has an outcome.
	Flush(ctx context.Context) error
	Close()
}

// Consumer reads until closed.
type Consumer interface {
	Close()
}

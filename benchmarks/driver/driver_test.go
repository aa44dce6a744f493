package driver_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/riffle/riffle/benchmarks/driver"
	"github.com/riffle/riffle/benchmarks/driver/kafkadrv"
	"github.com/riffle/riffle/benchmarks/workload"
)

// runKfake runs s against an in-process kfake cluster.
func runKfake(t *testing.T, s workload.Scenario) driver.Result {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sys, err := kafkadrv.New(c.ListenAddrs()...)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	res, err := driver.Run(context.Background(), driver.Config{Scenario: s, System: sys, TopicPrefix: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestPacedRunCountsEveryRecord(t *testing.T) {
	s := workload.Default()
	s.Partitions = 3
	s.ConsumersPerTopic = 2
	s.RecordBytes = 100
	s.Rate = 2000
	s.Warmup = workload.Duration(500 * time.Millisecond)
	s.Duration = workload.Duration(time.Second)
	res := runKfake(t, s)
	sum := res.Summary
	// 1.5 s at 2,000 rec/s, scheduled: exactly 3,000 records.
	if res.Sent != 3000 || sum.Errors.Produce+sum.Errors.Consume != 0 {
		t.Fatalf("sent %d, errors %+v", res.Sent, sum.Errors)
	}
	// Only records intended after the warm-up carry latency.
	if sum.Ack.Count != 2000 || sum.E2E.Count != 2000 {
		t.Fatalf("latency counts ack %d e2e %d, want 2000", sum.Ack.Count, sum.E2E.Count)
	}
	if sum.Produce.RecordsPerSec < 1500 || sum.Produce.RecordsPerSec > 2500 {
		t.Fatalf("produce rate %v, want about 2000", sum.Produce.RecordsPerSec)
	}
	if res.Client["acks"] != "all" || len(res.Topics) != 1 {
		t.Fatalf("result %+v", res)
	}
}

func TestCountedGroupRun(t *testing.T) {
	s := workload.Default()
	s.ConsumerGroup = true
	s.ProducersPerTopic = 2
	s.Rate = 0
	s.Duration = 0
	s.Records = 5001
	s.Warmup = 0
	s.KeyDistribution = workload.KeysRandom
	s.Compression = "zstd"
	res := runKfake(t, s)
	if res.Sent != 5001 || res.Summary.E2E.Count != 5001 || res.Summary.Ack.Count != 5001 {
		t.Fatalf("sent %d, ack %d, e2e %d", res.Sent, res.Summary.Ack.Count, res.Summary.E2E.Count)
	}
}

func TestConsumeOnlyReadsThePrefilledTopic(t *testing.T) {
	s := workload.Default()
	s.Partitions = 2
	s.RecordBytes = 100
	s.Rate = 0
	s.Duration = 0
	s.Records = 5000
	s.Warmup = 0
	s.ConsumeOnly = true
	res := runKfake(t, s)
	sum := res.Summary
	if res.Sent != 5000 || sum.Errors.Produce+sum.Errors.Consume != 0 {
		t.Fatalf("sent %d, errors %+v", res.Sent, sum.Errors)
	}
	// Reading is measured; the writing before it is not, and the records'
	// stamps (from the prefill) give no latency.
	if sum.Consume.Records == 0 || sum.Produce.Records != 0 || sum.Ack.Count != 0 || sum.E2E.Count != 0 {
		t.Fatalf("consume %+v produce %+v ack %d e2e %d", sum.Consume, sum.Produce, sum.Ack.Count, sum.E2E.Count)
	}
	s.Duration = workload.Duration(time.Second)
	if err := s.Validate(); err == nil {
		t.Fatal("consume_only with a duration validated")
	}
}

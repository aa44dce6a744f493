package chaos

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReadersOutliveProducers: stopping the producers at the drain must
// leave the readers reading, so that records acknowledged after it (the
// producers' last flush) are read too. When the readers shared the
// producers' context they stopped with them, and every record
// acknowledged after the workload's end showed as a stuck reader.
func TestReadersOutliveProducers(t *testing.T) {
	fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "outlive"))
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	seeds := fake.ListenAddrs()
	adminCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer adminCl.Close()
	adm := admin{adminCl}
	ctx := context.Background()
	cfg := workloadConfig{topic: "outlive", group: "outlive-group", partitions: 2, producers: 1, rate: 100}
	r := newRecorder(time.Now())
	cl, err := startClients(ctx, cfg, seeds, r, adm)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.close()
	ends := func() map[int32]int64 {
		t.Helper()
		var e map[int32]int64
		if err := waitFor(ctx, 10*time.Second, "end offsets", func(ctx context.Context) (err error) {
			e, err = adm.endOffsets(ctx, cfg.topic, cfg.partitions)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return e
	}
	if err := waitFor(ctx, 20*time.Second, "every partition produced to and read", func(context.Context) error {
		e := ends()
		for p, end := range e {
			if end == 0 {
				return fmt.Errorf("partition %d still empty", p)
			}
		}
		return caughtUp(r, e, cfg.group)
	}); err != nil {
		t.Fatal(err)
	}
	cl.stopProducing(10 * time.Second)
	// Records acknowledged once the producer loops have stopped, as the
	// last flush's are.
	late, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(cfg.topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	for p := range int32(cfg.partitions) {
		if err := late.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("late")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	final := ends()
	if err := waitFor(ctx, 20*time.Second, "readers caught up after the producers stopped", func(context.Context) error {
		return caughtUp(r, final, cfg.group)
	}); err != nil {
		t.Fatal(err)
	}
}

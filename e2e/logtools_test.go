package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/internal/brokertest"
)

// logDirsOut is `riffle log-dirs --json`.
type logDirsOut []struct {
	Broker      int32  `json:"broker"`
	Dir         string `json:"dir"`
	TotalBytes  int64  `json:"total_bytes"`
	UsableBytes int64  `json:"usable_bytes"`
	Partitions  []struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		SizeBytes int64  `json:"size_bytes"`
	} `json:"partitions"`
}

// partitionBytes is one partition's size in `riffle log-dirs --json`.
func partitionBytes(t *testing.T, addr, topic string, partition int32) int64 {
	t.Helper()
	dirs := decodeJSON[logDirsOut](t, ok(t, addr, "", "log-dirs", "--json", topic))
	if len(dirs) != 1 || dirs[0].TotalBytes <= 0 || dirs[0].UsableBytes <= 0 || !strings.HasPrefix(dirs[0].Dir, "/") {
		t.Fatalf("log-dirs: %+v", dirs)
	}
	for _, p := range dirs[0].Partitions {
		if p.Topic != topic {
			t.Errorf("log-dirs %s lists %s-%d", topic, p.Topic, p.Partition)
		}
		if p.Partition == partition {
			return p.SizeBytes
		}
	}
	t.Fatalf("log-dirs: no %s-%d in %+v", topic, partition, dirs)
	return 0
}

// TestCLIDeleteRecordsAndLogDirs deletes records through the CLI and sees
// consumers start at the new log start, the deleted segments leave the
// disk, and the log start survive a restart.
func TestCLIDeleteRecordsAndLogDirs(t *testing.T) {
	b := brokertest.Start(t)
	addr := b.Addr()
	ok(t, addr, "", "topic", "create", "logs", "-p", "2", "-c", "segment.bytes=1024")
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("logs"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 40 { // a batch each, 100-odd bytes: some ten segments
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "record %02d %s", i, strings.Repeat("x", 40))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	before := partitionBytes(t, addr, "logs", 0)
	if before < 40*80 || partitionBytes(t, addr, "logs", 1) != 0 {
		t.Fatalf("partition sizes %d and %d before deleting", before, partitionBytes(t, addr, "logs", 1))
	}

	type result struct {
		Topic        string `json:"topic"`
		Partition    int32  `json:"partition"`
		LowWatermark int64  `json:"low_watermark"`
	}
	res := decodeJSON[[]result](t, ok(t, addr, "", "topic", "delete-records", "--topic", "logs", "--partition", "0", "--offset", "30", "--json"))
	if len(res) != 1 || res[0].LowWatermark != 30 {
		t.Fatalf("delete-records --offset 30: %+v", res)
	}
	records := decodeLines[consumed](t, ok(t, addr, "", "consume", "logs", "-e", "-p", "0", "--json"))
	if len(records) != 10 || records[0].Offset != 30 || !strings.HasPrefix(records[0].Value, "record 30 ") {
		t.Fatalf("consume after delete-records: %d records, first %+v", len(records), records[:min(1, len(records))])
	}
	if after := partitionBytes(t, addr, "logs", 0); after > before/2 {
		t.Errorf("partition size %d after deleting 30 of 40 records, %d before", after, before)
	}
	if out := ok(t, addr, "", "topic", "delete-records", "--topic", "logs", "--partition", "0", "--offset", "-1"); !strings.Contains(out, "40") || !strings.Contains(out, "deleted") {
		t.Errorf("delete-records --offset -1:\n%s", out)
	}
	fails(t, addr, 1, []string{"logs-0: OFFSET_OUT_OF_RANGE"}, "topic", "delete-records", "--topic", "logs", "--partition", "0", "--offset", "41")
	fails(t, addr, 2, []string{"missing --offset"}, "topic", "delete-records", "--topic", "logs", "--partition", "0")

	b.Restart()
	addr = b.Addr()
	if out := ok(t, addr, "", "consume", "logs", "-e", "-p", "0"); out != "" {
		t.Errorf("after a restart, records below the log start came back:\n%s", out)
	}
	if out := ok(t, addr, "", "log-dirs"); !strings.Contains(out, "USABLE-BYTES") || !strings.Contains(out, "logs") {
		t.Errorf("log-dirs:\n%s", out)
	}
}

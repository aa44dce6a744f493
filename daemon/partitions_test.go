package daemon

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
	"github.com/riffle/riffle/segment/vfs"
)

// newTestBroker opens a data dir, controller and partition set in a temp
// dir the way openMetadata does, with the default config.
func newTestBroker(tb testing.TB, fs vfs.FS) (*quorum.Controller, *partitionSet) {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.Log.SegmentIndexBytes = 4096 // the memory filesystem holds preallocated indexes in full
	quiet := slog.New(slog.DiscardHandler)
	defaults, err := cfg.topicSegmentConfig(nil)
	if err != nil {
		tb.Fatal(err)
	}
	dd, err := segment.OpenDataDir(tb.TempDir(), func(string) segment.Config { return defaults }, segment.Options{FS: fs, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	mlog, err := dd.CreateLog(metadataTopic, 0, quorum.MetadataLogConfig(defaults))
	if err != nil {
		tb.Fatal(err)
	}
	ctrl, err := quorum.Open(mlog, quorum.Options{NodeID: 1, Broker: quorum.Broker{ID: 1, Host: "127.0.0.1", Port: 9092},
		ValidateTopicConfig: quorum.ValidateTopicConfig, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	s := &partitionSet{
		dataDir: dd, nodeID: 1, log: quiet,
		topicConfig: func(t *quorum.Topic) (partitionConfig, error) { return cfg.partitionConfig(t.Configs) },
		parts:       map[topicPartition]*replica.Partition{},
		ids:         map[string][16]byte{},
	}
	ctrl.OnChange(s.applyChange)
	s.apply(ctrl.Image())
	tb.Cleanup(func() {
		ctrl.Close()
		s.close()
		dd.Close()
	})
	return ctrl, s
}

// BenchmarkCreateTopics creates n one-partition topics one at a time through
// the controller and the partition set, and reports the mean cost of a
// create among the first and the last 500: equal when a create costs
// O(its own partitions). On the OS filesystem (fdatasync per change) disk
// noise dominates; the memory filesystem shows the CPU cost.
func BenchmarkCreateTopics(b *testing.B) {
	for _, fsName := range []string{"mem", "os"} {
		for _, n := range []int{2000, 10000} {
			b.Run(fmt.Sprintf("fs=%s/topics=%d", fsName, n), func(b *testing.B) {
				benchmarkCreateTopics(b, fsName, n)
			})
		}
	}
}

func benchmarkCreateTopics(b *testing.B, fsName string, n int) {
	for b.Loop() {
		fs := vfs.OS
		if fsName == "mem" {
			fs = vfs.NewMemFS()
		}
		ctrl, _ := newTestBroker(b, fs)
		var first, last time.Duration
		for i := range n {
			start := time.Now()
			if _, err := ctrl.CreateTopic(quorum.CreateTopic{Name: fmt.Sprintf("t%d", i), Partitions: 1, ReplicationFactor: 1}, 1, 1, false); err != nil {
				b.Fatal(err)
			}
			switch d := time.Since(start); {
			case i < 500:
				first += d
			case i >= n-500:
				last += d
			}
		}
		b.ReportMetric(float64(first.Microseconds())/500, "first-µs/create")
		b.ReportMetric(float64(last.Microseconds())/500, "last-µs/create")
	}
}

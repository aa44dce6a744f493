package replicas

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/segment"
)

// newTestBroker opens a data dir, controller and manager in a temp dir the
// way the daemon does, with the default segment config, on node 1.
func newTestBroker(tb testing.TB) (*quorum.Controller, *Manager) {
	tb.Helper()
	quiet := slog.New(slog.DiscardHandler)
	defaults := segment.DefaultConfig()
	dd, err := segment.OpenDataDir(tb.TempDir(), func(string) segment.Config { return defaults }, segment.Options{Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	mlog, err := dd.CreateLog(quorum.MetadataTopic, 0, quorum.MetadataLogConfig(defaults))
	if err != nil {
		tb.Fatal(err)
	}
	ctrl, err := quorum.Open(mlog, quorum.Options{NodeID: 1, Broker: quorum.Broker{ID: 1, Host: "127.0.0.1", Port: 9092},
		ValidateTopicConfig: quorum.ValidateTopicConfig, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	m := New(Options{
		DataDir: dd, NodeID: 1, Metadata: ctrl, Logger: quiet,
		TopicConfig: func(im *quorum.Image, t *quorum.Topic) (TopicConfig, error) {
			sc, err := quorum.Defaults{Cluster: im.ClusterConfigs}.SegmentConfig(t.Configs)
			return TopicConfig{Log: sc}, err
		},
	})
	tb.Cleanup(func() {
		ctrl.Close()
		m.Close()
		dd.Close()
	})
	return ctrl, m
}

// BenchmarkCreateTopics creates n one-partition topics one at a time through
// the controller and the partition set on the OS filesystem (an fdatasync
// per change), and reports the mean cost of a create among the first and
// the last 500: equal when a create costs O(its own partitions).
// (Replicas keep producer snapshots on the OS filesystem, so the memory
// one cannot stand in here; quorum's BenchmarkCreateTopicsGrowing shows the
// metadata side without the disk.)
func BenchmarkCreateTopics(b *testing.B) {
	for _, n := range []int{2000, 10000} {
		b.Run(fmt.Sprintf("topics=%d", n), func(b *testing.B) {
			for b.Loop() {
				ctrl, _ := newTestBroker(b)
				var first, last time.Duration
				for i := range n {
					start := time.Now()
					if _, err := ctrl.CreateTopic(quorum.CreateTopic{Name: fmt.Sprintf("t%d", i), Partitions: 1, ReplicationFactor: 1}, 1, 1, false); err != nil {
						b.Fatal(err)
					}
					if d := time.Since(start); i < 500 {
						first += d
					} else if i >= n-500 {
						last += d
					}
				}
				b.ReportMetric(float64(first.Microseconds())/500, "first-µs/create")
				b.ReportMetric(float64(last.Microseconds())/500, "last-µs/create")
			}
		})
	}
}

// TestManagerFollowsChanges: each change opens, reconfigures or
// deletes the replicas of the topics it touched, and leaves the others be.
func TestManagerFollowsChanges(t *testing.T) {
	ctrl, s := newTestBroker(t)
	create := func(name string, partitions int32) {
		t.Helper()
		if _, err := ctrl.CreateTopic(quorum.CreateTopic{Name: name, Partitions: partitions, ReplicationFactor: 1}, 1, 1, false); err != nil {
			t.Fatal(err)
		}
	}
	create("a", 2)
	create("b", 1)
	b0 := s.Partition("b", 0)
	if s.Partition("a", 0) == nil || s.Partition("a", 1) == nil || b0 == nil {
		t.Fatal("created partitions not opened")
	}
	if err := ctrl.CreatePartitions("a", 3, false); err != nil {
		t.Fatal(err)
	}
	if s.Partition("a", 2) == nil {
		t.Fatal("added partition not opened")
	}
	if err := ctrl.AlterTopicConfigs("a", map[string]*string{"segment.ms": new("60000")}, false); err != nil {
		t.Fatal(err)
	}
	for i := range int32(3) {
		if ms := s.Partition("a", i).Log().Config().SegmentMs; ms != 60000 {
			t.Errorf("a-%d: segment.ms %d after the change", i, ms)
		}
	}
	if err := ctrl.DeleteTopic("a"); err != nil {
		t.Fatal(err)
	}
	create("a", 1) // recreated under a new id: a fresh log
	if p := s.Partition("a", 0); p == nil || p.Log().Config().SegmentMs == 60000 {
		t.Fatal("recreated topic not opened afresh")
	}
	if s.Partition("a", 1) != nil || s.Partition("a", 2) != nil || s.opts.DataDir.Log("a", 1) != nil {
		t.Fatal("deleted partitions still hosted")
	}
	if s.Partition("b", 0) != b0 {
		t.Fatal("untouched topic b reopened")
	}
}

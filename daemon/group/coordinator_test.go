package group

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
)

// stack is a one-node broker's storage and metadata with a Coordinator on
// top, on a data directory that outlives it.
type stack struct {
	t     *testing.T
	dd    *segment.DataDir
	ctrl  *quorum.Controller
	coord *Coordinator

	mu    sync.Mutex
	parts map[int32]*replica.Partition
}

func openStack(t *testing.T, dir string) *stack {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	segCfg := segment.DefaultConfig()
	dd, err := segment.OpenDataDir(dir, func(string) segment.Config { return segCfg }, segment.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	mlog, err := dd.CreateLog("__cluster_metadata", 0, quorum.MetadataLogConfig(segCfg))
	if err != nil {
		t.Fatal(err)
	}
	ctrl, err := quorum.Open(mlog, quorum.Options{NodeID: 1, Broker: quorum.Broker{ID: 1, Host: "127.0.0.1", Port: 9092}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, dd: dd, ctrl: ctrl, parts: map[int32]*replica.Partition{}}
	ctrl.OnChange(func(_, next *quorum.Image) { s.follow(next) })
	s.follow(ctrl.Image())
	s.coord, err = Open(Options{NodeID: 1, Config: DefaultConfig(), TopicPartitions: 3, TopicReplicationFactor: 1,
		Controller: ctrl, Partitions: s, TickInterval: 10 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s.waitLoaded()
	return s
}

// follow opens the __consumer_offsets replicas, as the daemon does.
func (s *stack) follow(im *quorum.Image) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := im.Topic(OffsetsTopic)
	if t == nil {
		return
	}
	for _, p := range t.Partitions {
		if s.parts[p.ID] != nil {
			continue
		}
		l, err := s.dd.CreateLog(OffsetsTopic, p.ID, segment.DefaultConfig())
		if err != nil {
			s.t.Error(err)
			continue
		}
		rp, err := replica.Open(l, replica.Options{Topic: OffsetsTopic, Partition: p.ID, NodeID: 1, LeaderEpoch: p.LeaderEpoch, MinInsyncReplicas: 1})
		if err != nil {
			s.t.Error(err)
			continue
		}
		s.parts[p.ID] = rp
	}
}

func (s *stack) Partition(topic string, partition int32) *replica.Partition {
	s.mu.Lock()
	defer s.mu.Unlock()
	if topic != OffsetsTopic {
		return nil
	}
	return s.parts[partition]
}

func (s *stack) close() {
	s.coord.Close()
	s.mu.Lock()
	for _, p := range s.parts {
		if err := p.Close(); err != nil {
			s.t.Error(err)
		}
	}
	s.mu.Unlock()
	s.ctrl.Close()
	if err := s.dd.Close(); err != nil {
		s.t.Error(err)
	}
}

// waitLoaded waits until the coordinator serves every partition.
func (s *stack) waitLoaded() {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.coord.Mu.Lock()
		n := len(s.coord.m.Partitions(PartitionActive))
		s.coord.Mu.Unlock()
		if n == 3 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%d of 3 partitions loaded after 10s", n)
		}
		time.Sleep(5 * time.Millisecond) // poll interval while the partitions load
	}
}

func (s *stack) do(req kmsg.Request) kmsg.Response {
	s.t.Helper()
	resp, err := s.coord.Handle(context.Background(), "client", "/127.0.0.1", req)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp
}

func (s *stack) commit(group string, partition int32, offset int64, metadata string) {
	s.t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.Metadata, rp.LeaderEpoch = partition, offset, &metadata, 7
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := s.do(req).(*kmsg.OffsetCommitResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		s.t.Fatalf("commit %s: %v", group, kerr.ErrorForCode(code))
	}
}

// offsets fetches a group's committed offsets of topic t as
// partition -> "offset/epoch/metadata".
func (s *stack) offsets(group string) map[int32]string {
	s.t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.SetVersion(7)
	req.Group = group
	resp := s.do(req).(*kmsg.OffsetFetchResponse)
	if resp.ErrorCode != 0 {
		s.t.Fatalf("fetch %s: %v", group, kerr.ErrorForCode(resp.ErrorCode))
	}
	out := map[int32]string{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			out[p.Partition] = fmt.Sprintf("%d/%d/%s", p.Offset, p.LeaderEpoch, deref(p.Metadata))
		}
	}
	return out
}

// TestCoordinatorReplaysItsLog commits, deletes offsets and groups through
// the real log and checks that a restarted coordinator rebuilds the same
// state from __consumer_offsets, tombstones included.
func TestCoordinatorReplaysItsLog(t *testing.T) {
	dir := t.TempDir()
	s := openStack(t, dir)
	if im := s.ctrl.Image(); im.Topic(OffsetsTopic) == nil || !im.Topic(OffsetsTopic).Internal || len(im.Topic(OffsetsTopic).Partitions) != 3 {
		t.Fatalf("__consumer_offsets not created as an internal topic of 3 partitions: %+v", im.Topic(OffsetsTopic))
	}
	for i, g := range []string{"a", "b", "c", "d", "e"} {
		s.commit(g, 0, int64(10+i), "meta-"+g)
		s.commit(g, 1, int64(20+i), "")
	}
	s.commit("a", 0, 99, "newer")
	del := kmsg.NewPtrOffsetDeleteRequest()
	del.Group = "b"
	del.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 1}}}}
	if resp := s.do(del).(*kmsg.OffsetDeleteResponse); resp.ErrorCode != 0 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("offset delete: %+v", resp)
	}
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{"c"}
	if resp := s.do(dg).(*kmsg.DeleteGroupsResponse); resp.Groups[0].ErrorCode != 0 {
		t.Fatalf("delete group: %v", kerr.ErrorForCode(resp.Groups[0].ErrorCode))
	}
	want := map[string]map[int32]string{}
	for _, g := range []string{"a", "b", "c", "d", "e", "never"} {
		want[g] = s.offsets(g)
	}
	if want["a"][0] != "99/7/newer" || len(want["b"]) != 1 || len(want["c"]) != 0 || want["d"][1] != "23/7/" {
		t.Fatalf("before restart: %v", want)
	}
	s.close()

	s = openStack(t, dir)
	defer s.close()
	for g, w := range want {
		got := s.offsets(g)
		if len(got) != len(w) {
			t.Fatalf("group %s after restart: %v, want %v", g, got, w)
		}
		for p, o := range w {
			if got[p] != o {
				t.Fatalf("group %s partition %d after restart: %s, want %s", g, p, got[p], o)
			}
		}
	}
}

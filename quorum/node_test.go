package quorum

import (
	"strings"
	"syscall"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/riffle/riffle/segment/vfs"
)

// TestNodeVotersFromConfig: the voters come from the config; a stored
// ConfState naming others refuses to start, and a node must be a voter.
func TestNodeVotersFromConfig(t *testing.T) {
	s, _ := newMemStore(t, 1, 1, 2)
	cfg := nodeConfig{ID: 1, Voters: []uint64{3, 1, 2}, Storage: s.open().rl, Logger: quietLogger()}
	if _, err := newRaftNode(cfg, nil); err == nil || !strings.Contains(err.Error(), "not the configured") {
		t.Errorf("stored voters [1 2], configured [1 2 3]: %v", err)
	}
	cfg.Voters = []uint64{2, 1}
	if _, err := newRaftNode(cfg, nil); err != nil {
		t.Errorf("the stored voters in another order: %v", err)
	}
	cfg.ID = 4
	if _, err := newRaftNode(cfg, nil); err == nil {
		t.Error("node 4 started though not a voter")
	}
}

// TestNodeMendsTornSave: entries saved without their HardState (power
// lost inside Save) restart the node in their term, without a vote.
func TestNodeMendsTornSave(t *testing.T) {
	s, mem := newMemStore(t, 1, 1, 2, 3)
	var crashed *vfs.MemFS
	s.fs = vfs.Inject(mem, func(op vfs.Op, path string) error {
		if crashed == nil && op == vfs.OpOpenFile && strings.Contains(path, hardStateFile) && s.rl != nil && s.rl.lastIndex() == 1 {
			crashed = mem.CrashClone()
			return syscall.EIO
		}
		return nil
	})
	mustSave(t, s.open().rl, nil, nil, hs(1, 2, 0))
	if err := s.rl.Save(nil, []*raftpb.Entry{testEntry(1, 3)}, hs(3, 0, 1)); err == nil || crashed == nil {
		t.Fatalf("no power failure at the HardState: %v", err)
	}
	s.fs = crashed
	n, err := newRaftNode(nodeConfig{ID: 1, Voters: []uint64{1, 2, 3}, Storage: s.open().rl, Logger: quietLogger()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bs := n.rn.BasicStatus(); bs.GetTerm() != 3 || bs.GetVote() != 0 || bs.GetCommit() != 0 {
		t.Errorf("restarted at term %d vote %d commit %d, want term 3, no vote, commit 0", bs.GetTerm(), bs.GetVote(), bs.GetCommit())
	}
}

package quorum

import (
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// TestNodeVotersFromConfig: the voters come from the config; a stored
// ConfState naming others refuses to start, and a node must be a voter.
func TestNodeVotersFromConfig(t *testing.T) {
	st := newMemRaftStorage()
	snap := &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(5)), Term: new(uint64(1)),
		ConfState: &raftpb.ConfState{Voters: []uint64{1, 2}}}}
	if err := st.Save(snap, nil, nil); err != nil {
		t.Fatal(err)
	}
	cfg := nodeConfig{ID: 1, Voters: []uint64{3, 1, 2}, Storage: st, Logger: quietLogger()}
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

// TestNodeMendsTornSave: entries saved without their HardState (a crash
// inside Save) restart the node in their term, without a vote.
func TestNodeMendsTornSave(t *testing.T) {
	st := newMemRaftStorage()
	if err := st.Save(nil, nil, &raftpb.HardState{Term: new(uint64(1)), Vote: new(uint64(2)), Commit: new(uint64(0))}); err != nil {
		t.Fatal(err)
	}
	st.crashInSave = func(n int) int { return n }
	ents := []*raftpb.Entry{{Index: new(uint64(1)), Term: new(uint64(3))}}
	if err := st.Save(nil, ents, &raftpb.HardState{Term: new(uint64(3)), Vote: new(uint64(0)), Commit: new(uint64(1))}); err == nil {
		t.Fatal("no crash")
	}
	n, err := newRaftNode(nodeConfig{ID: 1, Voters: []uint64{1, 2, 3}, Storage: st.restart(), Logger: quietLogger()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bs := n.rn.BasicStatus(); bs.GetTerm() != 3 || bs.GetVote() != 0 || bs.GetCommit() != 0 {
		t.Errorf("restarted at term %d vote %d commit %d, want term 3, no vote, commit 0", bs.GetTerm(), bs.GetVote(), bs.GetCommit())
	}
}

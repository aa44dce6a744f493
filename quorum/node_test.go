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

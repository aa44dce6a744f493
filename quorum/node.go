package quorum

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// raftStorage is the raft log a node runs on (raftlog.go in production).
// Save makes snap, then ents, then hs durable before it returns; writing
// entry i discards any stored entries from i on. CreateSnapshot records the
// image data of committed entry index as the snapshot and trims the log
// behind it. FetchCommitted answers an observer's fetch (raftLog's).
type raftStorage interface {
	raft.Storage
	Save(snap *raftpb.Snapshot, ents []*raftpb.Entry, hs *raftpb.HardState) error
	CreateSnapshot(index uint64, data []byte) error
	FetchCommitted(index uint64) (*raftpb.Message, error)
}

// peerNetwork reaches the other voters (transport.go in production). Send
// never blocks: a message may be dropped, as raft expects. Call sends one
// controller request to voter to and waits for its response.
type peerNetwork interface {
	Send(msgs []*raftpb.Message)
	Call(ctx context.Context, to int32, req kmsg.Request) (kmsg.Response, error)
}

// stateMachine is what a node applies committed raft state to: the
// controller's core. Every method is called on the node's goroutine, in
// log order.
type stateMachine interface {
	applySnapshot(snap *raftpb.Snapshot) error
	// applyEntry applies the normal entry at index of term; data is a
	// metadata batch, or empty for raft's own entries.
	applyEntry(index, term uint64, data []byte) error
	leaderChanged(lead uint64)
}

// Raft timing and flow control. An election takes 10 ticks without a
// heartbeat; DefaultRaftTick makes that one second.
const (
	DefaultRaftTick    = 100 * time.Millisecond
	raftElectionTicks  = 10
	raftHeartbeatTicks = 1
	// raftMsgBytesMax bounds the entries of one append message (one entry
	// always fits, however large).
	raftMsgBytesMax     = 1 << 20
	raftInflightMsgsMax = 64
	// raftUncommittedBytesMax refuses proposals past it; it must hold the
	// largest batch (metadataBatchBytesMax) with room to spare.
	raftUncommittedBytesMax = 4 * metadataBatchBytesMax
)

// nodeConfig configures a raft node.
type nodeConfig struct {
	ID      uint64
	Voters  []uint64 // the static voter set, ID among them
	Storage raftStorage
	Network peerNetwork
	// Applied is the index the state machine already holds (that of the
	// snapshot it was restored from); raft hands over committed entries
	// after it.
	Applied uint64
	Logger  *slog.Logger
}

// raftNode is one voter: raft.RawNode plus the Ready loop. It does no I/O
// except through its storage and network, and it is not safe for
// concurrent use: production drives it from run's goroutine, the
// simulation from its own loop.
type raftNode struct {
	id      uint64
	rn      *raft.RawNode
	storage raftStorage
	net     peerNetwork
	sm      stateMachine
	lead    uint64 // the leader as of the last Ready
	// unsaved counts the entries proposed since the last Ready took them
	// (raft's sync Ready hands over every unstable entry).
	unsaved uint64
	log     *slog.Logger
}

func newRaftNode(cfg nodeConfig, sm stateMachine) (*raftNode, error) {
	if !slices.Contains(cfg.Voters, cfg.ID) {
		return nil, fmt.Errorf("raft node %d is not among the voters %v", cfg.ID, cfg.Voters)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	voters := slices.Sorted(slices.Values(cfg.Voters))
	// Checked here: raft panics on an InitialState error.
	_, cs, err := cfg.Storage.InitialState()
	if err != nil {
		return nil, fmt.Errorf("raft node %d: %w", cfg.ID, err)
	}
	if stored := slices.Sorted(slices.Values(cs.GetVoters())); len(stored) > 0 && !slices.Equal(stored, voters) {
		return nil, fmt.Errorf("raft node %d: stored voters %v are not the configured %v", cfg.ID, stored, voters)
	}
	rc := &raft.Config{
		ID:                        cfg.ID,
		ElectionTick:              raftElectionTicks,
		HeartbeatTick:             raftHeartbeatTicks,
		Storage:                   staticVoters{raftStorage: cfg.Storage, voters: voters},
		Applied:                   cfg.Applied,
		MaxSizePerMsg:             raftMsgBytesMax,
		MaxInflightMsgs:           raftInflightMsgsMax,
		MaxUncommittedEntriesSize: raftUncommittedBytesMax,
		CheckQuorum:               true,
		PreVote:                   true,
		DisableProposalForwarding: true, // followers forward changes, not raft proposals
		Logger:                    raftLogger{cfg.Logger},
	}
	rn, err := raft.NewRawNode(rc)
	if err != nil {
		return nil, fmt.Errorf("raft node %d: %w", cfg.ID, err)
	}
	return &raftNode{id: cfg.ID, rn: rn, storage: cfg.Storage, net: cfg.Network, sm: sm, log: cfg.Logger}, nil
}

// staticVoters gives raft the configured voter set as the ConfState on
// every start: voters come from the config, never from conf-change
// entries (newRaftNode checks a stored ConfState names the same). A torn
// Save (entries durable, their HardState not) is mended by the raft log
// on open.
type staticVoters struct {
	raftStorage
	voters []uint64 // sorted
}

func (s staticVoters) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	hs, _, err := s.raftStorage.InitialState()
	if err != nil {
		return nil, nil, err
	}
	return hs, &raftpb.ConfState{Voters: s.voters}, nil
}

func (n *raftNode) tick() { n.rn.Tick() }

// reportUnreachable tells raft a message to peer id was lost, so it
// probes the peer rather than stream to it.
func (n *raftNode) reportUnreachable(id uint64) { n.rn.ReportUnreachable(id) }

// reportSnapshot tells raft whether the snapshot it sent peer id went out:
// raft sends that peer nothing more until told.
func (n *raftNode) reportSnapshot(id uint64, ok bool) {
	status := raft.SnapshotFinish
	if !ok {
		status = raft.SnapshotFailure
	}
	n.rn.ReportSnapshot(id, status)
}

// step hands raft a message from a peer. It refuses a message for another
// node or of a local type; the caller drops it, as the network may drop
// any message.
func (n *raftNode) step(m *raftpb.Message) error {
	if m.GetTo() != n.id || raft.IsLocalMsg(m.GetType()) {
		return fmt.Errorf("raft node %d: refused %s from %d to %d", n.id, m.GetType(), m.GetFrom(), m.GetTo())
	}
	if err := n.rn.Step(m); err != nil {
		return fmt.Errorf("raft node %d: step %s from %d: %w", n.id, m.GetType(), m.GetFrom(), err)
	}
	return nil
}

// propose appends data to the log as the leader and returns the index and
// term the entry gets. It must come after handleReady, with no tick or step
// between (several proposals may follow one another): then raft holds no
// unsaved entries but those proposed since, and the new entry follows
// them. It fails when this node is not the leader.
func (n *raftNode) propose(data []byte) (index, term uint64, err error) {
	st := n.rn.BasicStatus()
	if st.RaftState != raft.StateLeader {
		return 0, 0, fmt.Errorf("raft node %d is not the leader: %w", n.id, ErrNotController)
	}
	last, err := n.storage.LastIndex()
	if err != nil {
		return 0, 0, fmt.Errorf("raft node %d: %w", n.id, err)
	}
	if err := n.rn.Propose(data); err != nil {
		return 0, 0, fmt.Errorf("raft node %d: propose: %w: %w", n.id, ErrNotController, err)
	}
	n.unsaved++
	return last + n.unsaved, st.GetTerm(), nil
}

// handleReady runs raft's synchronous Ready loop until raft has nothing
// left: save the snapshot, entries and HardState (durable), then send the
// messages (a vote or an append acknowledgement must not leave before what
// it promises is durable), then apply the snapshot and the committed
// entries, then Advance. An error is fatal for the node: its storage or
// state machine failed, and raft's state is past what they hold.
func (n *raftNode) handleReady() error {
	for n.rn.HasReady() {
		rd := n.rn.Ready()
		n.unsaved = 0
		if rd.SoftState != nil && rd.SoftState.Lead != n.lead {
			n.lead = rd.SoftState.Lead
			n.sm.leaderChanged(n.lead)
		}
		var snap *raftpb.Snapshot
		if !raft.IsEmptySnap(rd.Snapshot) {
			snap = rd.Snapshot
		}
		var hs *raftpb.HardState
		if !raft.IsEmptyHardState(rd.HardState) {
			hs = rd.HardState
		}
		if snap != nil || len(rd.Entries) > 0 || hs != nil {
			if err := n.storage.Save(snap, rd.Entries, hs); err != nil {
				return fmt.Errorf("raft node %d: save: %w", n.id, err)
			}
		}
		if len(rd.Messages) > 0 {
			n.net.Send(rd.Messages)
		}
		if snap != nil {
			if err := n.sm.applySnapshot(snap); err != nil {
				return fmt.Errorf("raft node %d: apply snapshot at %d: %w", n.id, snap.GetMetadata().GetIndex(), err)
			}
		}
		for _, e := range rd.CommittedEntries {
			if e.GetType() != raftpb.EntryType_EntryNormal {
				return fmt.Errorf("%w: raft entry %d is a %s; voters come from the config", ErrCorruptMetadata, e.GetIndex(), e.GetType())
			}
			if err := n.sm.applyEntry(e.GetIndex(), e.GetTerm(), e.GetData()); err != nil {
				return fmt.Errorf("raft node %d: apply entry %d: %w", n.id, e.GetIndex(), err)
			}
		}
		n.rn.Advance(rd)
	}
	return nil
}

// QuorumStatus is a node's view of the metadata quorum, in node ids: a
// voter's raft state, or what an observer was last told (Term, Commit: the
// highest a voter answered with; Applied: what it applied of them).
type QuorumStatus struct {
	NodeID  int32
	Leader  int32 // -1 while unknown
	Term    uint64
	Commit  uint64
	Applied uint64
	// Match is each voter's highest index known to match the leader's log;
	// only the leader knows it (nil elsewhere).
	Match map[int32]uint64
}

func (n *raftNode) status() QuorumStatus {
	st := n.rn.Status()
	qs := QuorumStatus{NodeID: nodeOfRaftID(n.id), Leader: -1, Term: st.GetTerm(), Commit: st.GetCommit(), Applied: st.Applied}
	if st.Lead != raft.None {
		qs.Leader = nodeOfRaftID(st.Lead)
	}
	if st.RaftState == raft.StateLeader {
		qs.Match = make(map[int32]uint64, len(st.Progress))
		for id, pr := range st.Progress {
			qs.Match[nodeOfRaftID(id)] = pr.Match
		}
	}
	return qs
}

// run drives the node until stop closes or the node fails: ticks every
// tick, steps inbound messages, runs tasks (closures that may propose;
// those waiting run together),
// runs reports when kicked, and after each event runs the Ready loop, then
// settle (which may propose; its proposals are handled at once). It
// returns the fatal error, or nil on stop.
func (n *raftNode) run(stop <-chan struct{}, tick time.Duration, inbound <-chan *raftpb.Message, tasks <-chan func(),
	kick <-chan struct{}, reports func(), settle func() error) error {
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-ticker.C:
			n.tick()
		case m := <-inbound:
			if err := n.step(m); err != nil {
				n.log.Debug("raft message dropped", "err", err)
			}
		case f := <-tasks:
			f()
			drainTasks(tasks)
		case <-kick:
			reports()
		}
		if err := n.settle(settle); err != nil {
			return err
		}
	}
}

// tasksDrainMax bounds the tasks run back to back before the Ready loop.
const tasksDrainMax = 256

// drainTasks runs the tasks already waiting, so that the changes they
// submit are proposed together: one Ready, one fsync, one append message
// per follower.
func drainTasks(tasks <-chan func()) {
	for range tasksDrainMax {
		select {
		case f := <-tasks:
			f()
		default:
			return
		}
	}
}

// settle runs the Ready loop and then after (which may propose), until
// raft has nothing left to do.
func (n *raftNode) settle(after func() error) error {
	for {
		if err := n.handleReady(); err != nil {
			return err
		}
		if err := after(); err != nil {
			return err
		}
		if !n.rn.HasReady() {
			return nil
		}
	}
}

// raftLogger writes raft's log through slog. raft's Fatal and Panic mean a
// broken invariant in raft itself: they panic, as raft expects.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) Debug(v ...any)                 { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Debugf(format string, v ...any) { r.l.Debug(fmt.Sprintf(format, v...)) }
func (r raftLogger) Info(v ...any)                  { r.l.Info(fmt.Sprint(v...)) }
func (r raftLogger) Infof(format string, v ...any)  { r.l.Info(fmt.Sprintf(format, v...)) }
func (r raftLogger) Warning(v ...any)               { r.l.Warn(fmt.Sprint(v...)) }
func (r raftLogger) Warningf(format string, v ...any) {
	r.l.Warn(fmt.Sprintf(format, v...))
}
func (r raftLogger) Error(v ...any)                 { r.l.Error(fmt.Sprint(v...)) }
func (r raftLogger) Errorf(format string, v ...any) { r.l.Error(fmt.Sprintf(format, v...)) }
func (r raftLogger) Fatal(v ...any)                 { r.Panic(v...) }
func (r raftLogger) Fatalf(format string, v ...any) { r.Panicf(format, v...) }
func (r raftLogger) Panic(v ...any)                 { panic(fmt.Sprint(v...)) }
func (r raftLogger) Panicf(format string, v ...any) { panic(fmt.Sprintf(format, v...)) }

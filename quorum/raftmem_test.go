package quorum

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// memRaftStorage is a raft log in memory with a durability model: what
// Save returned for is durable; a crash inside Save (armed with
// crashInSave) leaves a prefix of its entries durable and not its
// HardState, as a torn write would. restart gives the storage a node
// restarted from the durable state sees.
//
// It stands in for raftlog.go until that lands; the simulation then moves
// to the real raft log over vfs.MemFS.
type memRaftStorage struct {
	*raft.MemoryStorage // what raft reads: everything saved
	durable             *raft.MemoryStorage
	// crashInSave, when set, makes the next Save crash after keeping this
	// many of its entries (capped at their count).
	crashInSave func(entries int) int
}

var errCrashed = errors.New("simulated crash")

func newMemRaftStorage() *memRaftStorage {
	return &memRaftStorage{MemoryStorage: raft.NewMemoryStorage(), durable: raft.NewMemoryStorage()}
}

func (s *memRaftStorage) Save(snap *raftpb.Snapshot, ents []*raftpb.Entry, hs *raftpb.HardState) error {
	if s.crashInSave != nil {
		keep := min(s.crashInSave(len(ents)), len(ents))
		s.crashInSave = nil
		if snap != nil {
			return fmt.Errorf("%w: snapshots are not modelled", errCrashed)
		}
		if keep > 0 {
			if err := s.durable.Append(ents[:keep]); err != nil {
				return err
			}
		}
		return errCrashed
	}
	for _, st := range []*raft.MemoryStorage{s.durable, s.MemoryStorage} {
		if snap != nil {
			if err := st.ApplySnapshot(snap); err != nil {
				return err
			}
		}
		if err := st.Append(ents); err != nil {
			return err
		}
		if hs != nil {
			if err := st.SetHardState(hs); err != nil {
				return err
			}
		}
	}
	return nil
}

// restart returns the storage after a crash: the durable state only.
func (s *memRaftStorage) restart() *memRaftStorage {
	r := newMemRaftStorage()
	hs, _, _ := s.durable.InitialState()
	first, _ := s.durable.FirstIndex()
	last, _ := s.durable.LastIndex()
	var ents []*raftpb.Entry
	if last >= first {
		var err error
		if ents, err = s.durable.Entries(first, last+1, ^uint64(0)); err != nil {
			panic(err)
		}
	}
	for _, st := range []*raft.MemoryStorage{r.durable, r.MemoryStorage} {
		if err := st.Append(ents); err != nil {
			panic(err)
		}
		if err := st.SetHardState(proto.Clone(hs).(*raftpb.HardState)); err != nil {
			panic(err)
		}
	}
	return r
}

// wireMsg is a request or response as the wire carries it.
type wireMsg interface {
	AppendTo([]byte) []byte
	ReadFrom([]byte) error
	Key() int16
	GetVersion() int16
	SetVersion(int16)
}

// roundTrip encodes v and decodes it into fresh, as the wire would, so a
// field v's version lacks is lost here too.
func roundTrip(v, fresh wireMsg) error {
	fresh.SetVersion(v.GetVersion())
	if err := fresh.ReadFrom(v.AppendTo(nil)); err != nil {
		return fmt.Errorf("key %d v%d: %w", v.Key(), v.GetVersion(), err)
	}
	return nil
}

func wireRequest(req kmsg.Request) (kmsg.Request, error) {
	fresh := kmsg.RequestForKey(req.Key())
	if fresh == nil {
		return nil, fmt.Errorf("no request for key %d", req.Key())
	}
	return fresh, roundTrip(req, fresh)
}

func wireResponse(resp kmsg.Response) (kmsg.Response, error) {
	fresh := kmsg.ResponseForKey(resp.Key())
	if fresh == nil {
		return nil, fmt.Errorf("no response for key %d", resp.Key())
	}
	return fresh, roundTrip(resp, fresh)
}

// chanNetwork connects Controllers in one process: raft messages go
// straight to ReceiveRaft (cloned, as if sent), calls to HandleRequest
// through the wire encoding.
type chanNetwork struct {
	mu    sync.Mutex
	peers map[uint64]*Controller
}

func (n *chanNetwork) peer(id uint64) *Controller {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.peers[id]
}

func (n *chanNetwork) Send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		if c := n.peer(m.GetTo()); c != nil {
			c.ReceiveRaft(proto.Clone(m).(*raftpb.Message))
		}
	}
}

func (n *chanNetwork) Call(ctx context.Context, to int32, req kmsg.Request) (kmsg.Response, error) {
	c := n.peer(RaftID(to))
	if c == nil {
		return nil, fmt.Errorf("node %d unreachable", to)
	}
	req, err := wireRequest(req)
	if err != nil {
		return nil, err
	}
	resp, err := c.HandleRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	return wireResponse(resp)
}

package quorum

import (
	"context"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

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
// straight to ReceiveRaft (cloned, as if sent), with the reports of a
// transport to the sender, calls to HandleRequest through the wire
// encoding.
type chanNetwork struct {
	mu    sync.Mutex
	peers map[uint64]*Controller
	// held drops the raft messages to that raft id (0: none), so its image
	// stays behind while the others commit.
	held uint64
	// answered, if set, is sent each answer to a call before the caller
	// gets it.
	answered chan kmsg.Response
}

// hold drops the raft messages to id from now on; 0 stops dropping.
func (n *chanNetwork) hold(id uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.held = id
}

func (n *chanNetwork) peer(id uint64) *Controller {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.peers[id]
}

func (n *chanNetwork) Send(msgs []*raftpb.Message) {
	n.mu.Lock()
	held := n.held
	n.mu.Unlock()
	for _, m := range msgs {
		if m.GetTo() == held {
			continue
		}
		to, from := n.peer(m.GetTo()), n.peer(m.GetFrom())
		if to != nil {
			to.ReceiveRaft(proto.Clone(m).(*raftpb.Message))
		}
		if from == nil {
			continue
		}
		if to == nil {
			from.ReportUnreachable(nodeOfRaftID(m.GetTo()))
		}
		if m.GetType() == raftpb.MsgSnap {
			from.ReportSnapshot(nodeOfRaftID(m.GetTo()), to != nil)
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
	if n.answered != nil {
		n.answered <- resp
	}
	return wireResponse(resp)
}

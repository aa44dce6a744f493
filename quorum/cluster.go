package quorum

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/riffle/riffle/segment"
	"github.com/riffle/riffle/segment/vfs"
)

// raftLogKeep is how many entries at and before a snapshot stay in the
// metadata log for followers a little behind.
const raftLogKeep = 1000

// ClusterOptions are what a node of a multi-node quorum runs on besides
// Options: the voters and, on a voter, its cluster listener.
type ClusterOptions struct {
	// Voters are the cluster listeners by node id (cluster.voters). A node
	// among them is a voter; any other is an observer (a broker only).
	Voters map[int32]string
	// Listen is the address a voter's cluster listener binds
	// (cluster.listen). An observer has none: it only dials the voters.
	Listen string
	// LeaderRebalanceEvery > 0 makes the active controller elect
	// preferred leaders where a broker's leader imbalance is above 10%
	// that often (cluster.auto_leader_rebalance_enable,
	// cluster.leader_imbalance_check_interval_ms); 0 turns it off.
	LeaderRebalanceEvery time.Duration
	// SessionTimeout: the active controller fences a broker it has not
	// heard from for longer (cluster.broker_session_timeout_ms); 0 is
	// DefaultBrokerSessionTimeout.
	SessionTimeout time.Duration
	// HeartbeatInterval is how often this node's broker heartbeats
	// (cluster.broker_heartbeat_interval_ms), below SessionTimeout; 0 is
	// DefaultBrokerHeartbeatInterval.
	HeartbeatInterval time.Duration
	// ServerTLS and Dial secure the cluster connections (cluster.tls);
	// TransportConfig says how.
	ServerTLS *tls.Config
	Dial      func(ctx context.Context, network, addr string) (net.Conn, error)
}

// withDefaults fills in the zero durations and checks that a broker
// heartbeats within its session.
func (co ClusterOptions) withDefaults() (ClusterOptions, error) {
	if co.SessionTimeout == 0 {
		co.SessionTimeout = DefaultBrokerSessionTimeout
	}
	if co.HeartbeatInterval == 0 {
		co.HeartbeatInterval = DefaultBrokerHeartbeatInterval
	}
	if co.HeartbeatInterval < 0 || co.HeartbeatInterval >= co.SessionTimeout {
		return co, fmt.Errorf("quorum: broker heartbeat interval %v must be positive and below the session timeout %v",
			co.HeartbeatInterval, co.SessionTimeout)
	}
	return co, nil
}

// ErrClusterListen wraps a failure to bind the cluster listener.
var ErrClusterListen = errors.New("cluster listener")

// OpenCluster opens the controller of a node of a multi-node quorum. On a
// voter: the raft log over the metadata log, the cluster listener (bound
// before OpenCluster returns; a bind failure wraps ErrClusterListen) and
// the raft node. On an observer (opts.NodeID not among co.Voters, and
// co.Listen empty): the same raft log, a transport that only dials the
// voters, and the observer that fetches the committed log from them. The
// controller is open once the committed entries this node holds are
// applied; it may not know a leader yet (changes fail with
// ErrNotController until then). Close stops the node and the transport;
// the metadata log stays the caller's.
func OpenCluster(log *segment.Log, opts Options, co ClusterOptions) (*Controller, error) {
	co, err := co.withDefaults()
	if err != nil {
		return nil, err
	}
	_, voter := co.Voters[opts.NodeID]
	if !voter && co.Listen != "" {
		return nil, fmt.Errorf("quorum: node %d is not a voter of %v and runs no cluster listener, yet listen is %s", opts.NodeID, co.Voters, co.Listen)
	}
	var voters []uint64
	for id := range co.Voters {
		voters = append(voters, RaftID(id))
	}
	slices.Sort(voters)
	if len(voters) == 0 {
		return nil, fmt.Errorf("quorum: no voters")
	}
	rl, err := openRaftLog(vfs.OS, log.Dir(), log, &raftpb.ConfState{Voters: voters}, RaftID(opts.NodeID), raftLogKeep)
	if err != nil {
		return nil, fmt.Errorf("quorum: raft log %s: %w", log.Dir(), err)
	}
	// The transport delivers to the controller, which needs the transport
	// to start: messages before it is set are dropped (raft resends).
	var ctrl atomic.Pointer[Controller]
	tc := TransportConfig{NodeID: opts.NodeID, Peers: co.Voters, OnMessage: func(*raftpb.Message) {}, Log: opts.Logger,
		ServerTLS: co.ServerTLS, Dial: co.Dial}
	if voter {
		tc.Listen = co.Listen
		tc.OnMessage = func(m *raftpb.Message) {
			if c := ctrl.Load(); c != nil {
				c.ReceiveRaft(m)
			}
		}
		tc.OnUnreachable = func(node int32) {
			if c := ctrl.Load(); c != nil {
				c.ReportUnreachable(node)
			}
		}
		tc.OnSnapshotStatus = func(node int32, ok bool) {
			if c := ctrl.Load(); c != nil {
				c.ReportSnapshot(node, ok)
			}
		}
		tc.Handler = func(ctx context.Context, _ int32, req kmsg.Request) (kmsg.Response, error) {
			c := ctrl.Load()
			if c == nil {
				return nil, fmt.Errorf("node %d: %w (starting)", opts.NodeID, ErrNotController)
			}
			return c.HandleRequest(ctx, req)
		}
		tc.Fetch = func(ctx context.Context, from int32, index uint64, clusterID string) (int32, *raftpb.Message, error) {
			c := ctrl.Load()
			if c == nil {
				return -1, nil, fmt.Errorf("node %d: starting", opts.NodeID)
			}
			return c.serveFetch(ctx, from, index, clusterID)
		}
	}
	t, err := NewTransport(tc)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrClusterListen, co.Listen, err)
	}
	ro := raftOptions{voters: voters, storage: rl, network: t,
		sessionTimeout: co.SessionTimeout, rebalanceEvery: co.LeaderRebalanceEvery}
	ids := slices.Sorted(maps.Keys(co.Voters))
	var c *Controller
	if voter {
		c, err = openRaft(opts, ro)
	} else {
		c, err = openObserver(opts, ro, ids, t.Fetch)
	}
	if err != nil {
		t.Close()
		return nil, err
	}
	c.cluster = &clusterNode{transport: t, voters: ids, heartbeatInterval: co.HeartbeatInterval}
	ctrl.Store(c)
	return c, nil
}

// clusterNode is what OpenCluster adds to a controller.
type clusterNode struct {
	transport         *Transport
	voters            []int32 // sorted
	heartbeatInterval time.Duration
}

// HeartbeatInterval is how often this node's broker heartbeats to the
// active controller (ClusterOptions.HeartbeatInterval; the default for a
// single node, which does not heartbeat).
func (c *Controller) HeartbeatInterval() time.Duration {
	if c.cluster == nil {
		return DefaultBrokerHeartbeatInterval
	}
	return c.cluster.heartbeatInterval
}

// ClusterAddr is the bound address of the cluster listener ("" for a
// single node or an observer, which has none).
func (c *Controller) ClusterAddr() string {
	if c.cluster == nil || c.cluster.transport.Addr() == nil {
		return ""
	}
	return c.cluster.transport.Addr().String()
}

// QuorumView is the metadata quorum as this node sees it, in node ids
// and raft indexes (DescribeQuorum).
type QuorumView struct {
	Leader int32 // -1 while unknown
	Term   uint64
	Commit uint64
	Voters []VoterProgress // by id
	// Observers are the brokers that are not voters and fetched from this
	// node lately, by id, with the raft index each holds; only the leader
	// lists them (they fetch from it).
	Observers []VoterProgress
}

// VoterProgress is one voter's log as the leader knows it.
type VoterProgress struct {
	ID    int32
	Match int64 // highest index known to match the leader's log; -1 unknown (off the leader)
}

// Quorum returns this node's view of the quorum. A single node is its own
// quorum of one, in term 0, its log all committed.
func (c *Controller) Quorum() (QuorumView, error) {
	if c.cluster == nil {
		im := c.Image()
		n := uint64(im.Offset + 1)
		return QuorumView{Leader: im.ControllerID, Commit: n, Voters: []VoterProgress{{ID: im.ControllerID, Match: int64(n)}}}, nil
	}
	st, err := c.QuorumStatus()
	if err != nil {
		return QuorumView{}, err
	}
	v := QuorumView{Leader: st.Leader, Term: st.Term, Commit: st.Commit}
	if st.Match != nil {
		v.Observers = c.raft.observers.list(time.Now())
	}
	for _, id := range c.cluster.voters {
		match := int64(-1)
		if m, ok := st.Match[id]; ok {
			match = int64(m)
		}
		v.Voters = append(v.Voters, VoterProgress{ID: id, Match: match})
	}
	return v, nil
}

// brokerRegistrationVersion is the BrokerRegistration version a voter
// forwards its registration with.
const brokerRegistrationVersion = 0

// ErrInconsistentClusterID: the active controller's cluster id is not the
// one in this node's metadata log (its data directory is another cluster's).
var ErrInconsistentClusterID = errors.New("inconsistent cluster id")

// RegisterBroker registers opts.Broker (its endpoint) with the active
// controller unless the image has it already; a voter that is not the
// controller forwards it with BrokerRegistration, naming the cluster id of
// its own image so a controller of another cluster refuses it. It returns
// once the controller committed it; this node's image shows it a moment
// later. ErrNotController: no controller known yet, retry.
func (c *Controller) RegisterBroker(b Broker) error {
	clusterID := c.Image().ClusterID
	p := &proposal{plan: func(im *Image) ([]record, error) { return c.plan.register(im, clusterID, b) }}
	_, err := c.run(p, func(ctx context.Context, r *raftRunner) (changeResult, error) {
		return r.forwarded(ctx, brokerRegistrationRequest(clusterID, b), brokerRegistrationResult)
	})
	return err
}

// Heartbeat sends broker hb.ID's heartbeat to the active controller (run
// here when this node is it, else forwarded with BrokerHeartbeat) and
// returns its reply once the records it caused are committed.
// ErrNotController: no controller known yet, retry.
func (c *Controller) Heartbeat(hb BrokerHeartbeat) (HeartbeatReply, error) {
	if c.raft == nil {
		return HeartbeatReply{}, fmt.Errorf("quorum: a one-voter controller needs no heartbeats")
	}
	res, err := c.run(&proposal{heartbeat: &hb}, func(ctx context.Context, r *raftRunner) (changeResult, error) {
		resp, err := r.call(ctx, brokerHeartbeatRequest(hb))
		if err != nil {
			return changeResult{}, err
		}
		reply, err := brokerHeartbeatResult(resp)
		return changeResult{heartbeat: reply}, err
	})
	return res.heartbeat, err
}

// register plans b's registration: none when the image has b's endpoint
// and b is unfenced.
// clusterID is the registering node's, "" when it has none yet.
func (p *planner) register(im *Image, clusterID string, b Broker) ([]record, error) {
	if clusterID != "" && im.ClusterID != "" && clusterID != im.ClusterID {
		return nil, fmt.Errorf("%w: broker %d has cluster id %s, this quorum is cluster %s", ErrInconsistentClusterID, b.ID, clusterID, im.ClusterID)
	}
	// Unfenced at once, as startup unfences the controller's own broker:
	// the node registers once it has replayed its log. A restarted broker
	// fenced meanwhile is unfenced here; a live one's heartbeats unfence
	// it after a lapse (brokerHeartbeat).
	return p.registerUnfenced(im, b, im.Offset+1), nil
}

func brokerRegistrationRequest(clusterID string, b Broker) *kmsg.BrokerRegistrationRequest {
	r := kmsg.NewPtrBrokerRegistrationRequest()
	r.Version = brokerRegistrationVersion
	r.BrokerID, r.ClusterID = b.ID, clusterID
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port = "PLAINTEXT", b.Host, uint16(b.Port)
	r.Listeners = append(r.Listeners, l)
	if b.Rack != "" {
		r.Rack = &b.Rack
	}
	return r
}

// brokerFromRegistration is the broker a BrokerRegistration request registers.
func brokerFromRegistration(req *kmsg.BrokerRegistrationRequest) (Broker, error) {
	if len(req.Listeners) != 1 {
		return Broker{}, fmt.Errorf("%w: broker %d registers %d listeners, want 1", kerr.InvalidRequest, req.BrokerID, len(req.Listeners))
	}
	b := Broker{ID: req.BrokerID, Host: req.Listeners[0].Host, Port: int32(req.Listeners[0].Port)}
	if req.Rack != nil {
		b.Rack = *req.Rack
	}
	return b, nil
}

// errorMessageTag is the tagged field in which a BrokerRegistration or
// AlterPartition response between riffle nodes carries the error message
// (neither has an ErrorMessage field): a refused data directory's message
// names both cluster ids, a refused ISR the check that failed.
const errorMessageTag = 0x7269

// taggedErrorCode returns err's code and puts its message in tags.
func taggedErrorCode(tags *kmsg.Tags, err error) int16 {
	code, msg := errorCode(err)
	if msg != nil {
		tags.Set(errorMessageTag, []byte(*msg))
	}
	return code
}

// taggedMessage is the message taggedErrorCode put in tags, if any.
func taggedMessage(tags kmsg.Tags) *string {
	val, ok := tagValue(tags, errorMessageTag)
	if !ok {
		return nil
	}
	msg := string(val)
	return &msg
}

// tagValue is the value of the tagged field key in tags, if set.
func tagValue(tags kmsg.Tags, key uint32) (val []byte, ok bool) {
	tags.Each(func(k uint32, v []byte) {
		if k == key {
			val, ok = v, true
		}
	})
	return val, ok
}

func brokerRegistrationResult(resp kmsg.Response) error {
	r, ok := resp.(*kmsg.BrokerRegistrationResponse)
	if !ok {
		return fmt.Errorf("controller: a BrokerRegistration response holds %T", resp)
	}
	return responseError(r.ErrorCode, taggedMessage(r.UnknownTags))
}

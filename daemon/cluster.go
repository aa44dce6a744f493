package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/riffle/riffle/daemon/auth"
	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/segment"
)

// How a cluster node waits for the metadata quorum at start: it retries
// its registration every quorumRetry and logs that it is still waiting
// every quorumWaitLogEvery.
const (
	quorumRetry        = 500 * time.Millisecond
	quorumWaitLogEvery = 10 * time.Second
)

// errStoppedWaiting: the broker was asked to stop while it waited for the
// metadata quorum; not a failure.
var errStoppedWaiting = errors.New("stopped while waiting for the metadata quorum")

// openController opens the metadata controller: a quorum of one without
// cluster.voters, else this voter's raft node and cluster listener, or,
// on a node not in cluster.voters, the observer that follows the voters
// (a broker only, with no cluster listener).
func openController(cfg Config, mlog *segment.Log, opts quorum.Options, src *auth.TLSSource) (*quorum.Controller, error) {
	voters := cfg.Voters()
	if voters == nil {
		ctrl, err := quorum.Open(mlog, opts)
		if errors.Is(err, quorum.ErrClusterDataDir) {
			return nil, &startError{code: ExitDataDir, err: err}
		}
		return ctrl, err
	}
	addrs := make(map[int32]string, len(voters))
	for _, v := range voters {
		addrs[v.ID] = v.Addr
	}
	co := quorum.ClusterOptions{Voters: addrs, Listen: cfg.Cluster.Listen,
		SessionTimeout:    time.Duration(cfg.Cluster.BrokerSessionTimeoutMs) * time.Millisecond,
		HeartbeatInterval: time.Duration(cfg.Cluster.BrokerHeartbeatIntervalMs) * time.Millisecond}
	if cfg.Cluster.TLS {
		co.ServerTLS = src.MutualConfig()
		co.Dial = auth.PeerDialer{TLS: src, Timeout: interBrokerDialTimeout}.Dial
	}
	if cfg.Cluster.AutoLeaderRebalanceEnable {
		co.LeaderRebalanceEvery = time.Duration(cfg.Cluster.LeaderImbalanceCheckIntervalMs) * time.Millisecond
	}
	ctrl, err := quorum.OpenCluster(mlog, opts, co)
	switch {
	case errors.Is(err, quorum.ErrClusterListen):
		return nil, listenError("cluster listen", cfg.Cluster.Listen, err)
	case err != nil:
		// The metadata log does not fit the voters: written by a single
		// node, or under another voter set.
		return nil, &startError{code: ExitDataDir, err: err}
	}
	return ctrl, nil
}

// joinQuorum waits until the active controller has accepted this node's
// registration and this node's image shows it (a single node is at once;
// a broker-only node also waits until it has caught up with the voters'
// commits): it asks the active controller to
// register it, through raft on the controller or forwarded from another
// voter, retrying while no controller is known. Until then /readyz
// answers 503 and Kafka requests wait. A data directory of another
// cluster is refused.
func (b *broker) joinQuorum(ctx context.Context, cfg Config) error {
	if cfg.Voters() == nil {
		return nil
	}
	self := quorum.Broker{ID: cfg.Broker.NodeID, Host: b.self.Host, Port: b.self.Port, Rack: cfg.Broker.Rack}
	registered := func() bool {
		im := b.ctrl.Image()
		cur, ok := im.Broker(self.ID)
		return ok && im.ClusterID != "" && cur.Host == self.Host && cur.Port == self.Port && cur.Rack == self.Rack
	}
	// A broker-only node restarted with its registration on disk is
	// registered at once: it is ready only once it has applied what the
	// voters had committed when they last answered its fetches.
	voter := slices.ContainsFunc(cfg.Voters(), func(v Voter) bool { return v.ID == self.ID })
	caughtUp := func() bool {
		if voter {
			return true
		}
		st, err := b.ctrl.QuorumStatus()
		return err == nil && st.Commit > 0 && st.Applied >= st.Commit
	}
	defer b.sd.starting("waiting for the metadata quorum")()
	b.log.Info("riffle: waiting for the metadata quorum", "voters", cfg.Cluster.Voters,
		"cluster_listen", b.ctrl.ClusterAddr(), "local_cluster_id", b.ctrl.Image().ClusterID)
	start := time.Now()
	lastLog := start
	retry := time.NewTicker(quorumRetry)
	defer retry.Stop()
	// A registration the controller accepted, seen in this node's image:
	// the image on disk may already hold this broker, but only a
	// controller's answer shows that a quorum is there.
	for {
		err := b.ctrl.RegisterBroker(self)
		if errors.Is(err, quorum.ErrInconsistentClusterID) {
			return &startError{code: ExitDataDir, err: fmt.Errorf("data directory %s belongs to another cluster: %w", cfg.Broker.DataDir, err)}
		}
		if err == nil && registered() && caughtUp() {
			break
		}
		if time.Since(lastLog) >= quorumWaitLogEvery {
			lastLog = time.Now()
			b.log.Warn("riffle: still waiting for the metadata quorum: are a majority of cluster.voters up and reachable?",
				"voters", cfg.Cluster.Voters, "waited", time.Since(start).Round(time.Second), "err", err)
		}
		select {
		case <-ctx.Done():
			return errStoppedWaiting
		case <-retry.C:
		}
	}
	im := b.ctrl.Image()
	b.log.Info("riffle: joined the metadata quorum", "cluster_id", im.ClusterID, "controller", im.ControllerID,
		"brokers", len(im.Brokers), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// heartbeatLoop heartbeats this node's broker to the active controller
// every cluster.broker_heartbeat_interval_ms until tickStop closes: the
// controller fences a broker it stops hearing from, and unfences it when
// it heartbeats again having applied its own registration.
func (b *broker) heartbeatLoop() {
	id := b.nodeID
	defer close(b.heartbeatDone)
	t := time.NewTicker(b.ctrl.HeartbeatInterval())
	defer t.Stop()
	// The first heartbeat goes at once: it unfences the broker and
	// starts the lease its coordinators serve under.
	var lastRound time.Time
	for first := true; ; first = false {
		if !first {
			select {
			case <-b.tickStop:
				return
			case <-t.C:
			}
		}
		im := b.ctrl.Image()
		self, ok := im.Broker(id)
		if !ok {
			continue
		}
		sent := time.Now()
		// After a stall longer than the lease (SIGSTOP, starvation) this
		// node may answer its own heartbeat as a deposed controller that
		// has not yet heard of its successor: only the next round renews.
		gap := sent.Sub(lastRound)
		stalled := !lastRound.IsZero() && gap > b.lease.length
		lastRound = sent
		reply, err := b.ctrl.Heartbeat(quorum.BrokerHeartbeat{ID: id, Epoch: self.Epoch, MetadataOffset: im.Offset})
		switch {
		case err != nil:
			b.log.Debug("riffle: broker heartbeat failed", "err", err)
		case reply.IsFenced:
			b.log.Warn("riffle: the controller keeps this broker fenced", "caught_up", reply.IsCaughtUp)
		case stalled:
			b.log.Warn("riffle: heartbeat loop stalled; the coordinators' lease is renewed from the next heartbeat", "stalled", gap.Round(time.Millisecond))
		default:
			b.lease.renew(sent)
		}
	}
}

// controlledShutdownWait bounds how long a stopping cluster node waits for
// the controller to move its leaderships and fence it; past it (no quorum,
// say) the node stops anyway and its session expires.
const (
	controlledShutdownWait  = 10 * time.Second
	controlledShutdownRetry = 200 * time.Millisecond
)

// controlledShutdown asks the active controller, with WantShutdown
// heartbeats, to move this broker's leaderships and fence it, until it
// answers ShouldShutdown or controlledShutdownWait passes: clients then
// find the new leaders at once rather than after the session timeout. It
// stops waiting as soon as the image shows no other broker that could
// take a leadership over (all fenced or stopping themselves): the last
// node of a cluster stopping as a whole (dev-cluster's Ctrl-C) otherwise
// waited the whole bound for a quorum that had already gone.
func (b *broker) controlledShutdown() {
	start := time.Now()
	deadline := time.NewTimer(controlledShutdownWait)
	defer deadline.Stop()
	retry := time.NewTicker(controlledShutdownRetry)
	defer retry.Stop()
	type outcome struct {
		reply quorum.HeartbeatReply
		err   error
	}
	var pending chan outcome // the heartbeat in flight, if any
	for {
		im := b.ctrl.Image()
		self, ok := im.Broker(b.nodeID)
		if !ok {
			return
		}
		if len(im.Brokers) > 1 && !hasSuccessor(im, b.nodeID) {
			b.log.Info("riffle: controlled shutdown skipped: no other broker can take over", "after", time.Since(start).Round(time.Millisecond))
			return
		}
		if pending == nil {
			// A heartbeat may wait for the controller longer than the
			// bound: it is left to fail once the controller is closed.
			pending = make(chan outcome, 1)
			go func(ch chan<- outcome) {
				reply, err := b.ctrl.Heartbeat(quorum.BrokerHeartbeat{ID: b.nodeID, Epoch: self.Epoch,
					MetadataOffset: im.Offset, WantShutdown: true})
				ch <- outcome{reply, err}
			}(pending)
		}
		select {
		case o := <-pending:
			if o.err == nil && o.reply.ShouldShutdown {
				b.log.Info("riffle: controlled shutdown done", "took", time.Since(start).Round(time.Millisecond))
				return
			}
			pending = nil
			select { // the next heartbeat after a pause
			case <-retry.C:
			case <-deadline.C:
				b.controlledShutdownGaveUp()
				return
			}
		case <-retry.C: // look at the image again while the heartbeat waits
		case <-deadline.C:
			b.controlledShutdownGaveUp()
			return
		}
	}
}

func (b *broker) controlledShutdownGaveUp() {
	b.log.Warn("riffle: controlled shutdown not confirmed by the controller; stopping anyway", "waited", controlledShutdownWait)
}

// hasSuccessor reports whether a broker other than id may lead or join an
// ISR (see quorum.Image.Acceptable).
func hasSuccessor(im *quorum.Image, id int32) bool {
	for _, o := range im.LiveBrokers() {
		if o.ID != id {
			return true
		}
	}
	return false
}

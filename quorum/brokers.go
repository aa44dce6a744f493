package quorum

import (
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Broker lifecycle, as KRaft's ClusterControlManager and
// BrokerHeartbeatManager: a broker registers (a new incarnation starts
// fenced, at a new broker epoch), heartbeats, is unfenced once caught up
// with the metadata log, fenced when its session expires or it asks, and
// shuts down in a controlled way. Every decision here is pure: the shell
// passes the time and commits the records.
const (
	// DefaultBrokerSessionTimeout is broker.session.timeout.ms's default:
	// a broker not heard from for longer is fenced
	// (ClusterOptions.SessionTimeout).
	DefaultBrokerSessionTimeout = 9000 * time.Millisecond
	// DefaultBrokerHeartbeatInterval is broker.heartbeat.interval.ms's
	// default, how often a broker heartbeats
	// (ClusterOptions.HeartbeatInterval).
	DefaultBrokerHeartbeatInterval = 2000 * time.Millisecond
)

// sessions tracks broker liveness in the active controller's memory, not in
// the log: a new controller starts every session afresh. The shell touches
// a broker's session on each successful registration and heartbeat, and
// forgets it once the broker is told to shut down.
type sessions struct {
	timeout time.Duration
	last    map[int32]time.Time // broker id -> time of its last heartbeat
}

func newSessions(timeout time.Duration) *sessions {
	return &sessions{timeout: timeout, last: map[int32]time.Time{}}
}

func (s *sessions) touch(id int32, now time.Time) { s.last[id] = now }
func (s *sessions) forget(id int32)               { delete(s.last, id) }

// live reports whether broker id was heard from within the timeout.
func (s *sessions) live(id int32, now time.Time) bool {
	last, ok := s.last[id]
	return ok && now.Sub(last) <= s.timeout
}

// expired lists the tracked brokers whose session has expired at now, by id.
func (s *sessions) expired(now time.Time) []int32 {
	var ids []int32
	for id := range s.last {
		if !s.live(id, now) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// BrokerRegistration is a broker's BrokerRegistration request.
type BrokerRegistration struct {
	ID          int32
	ClusterID   string
	Incarnation [16]byte // random per process start
	Host        string
	Port        int32
	Rack        string
}

// registerBroker returns the records that register req and the broker
// epoch the broker gets. The same incarnation amends the endpoint and keeps
// the epoch. A new incarnation is refused while the old one's session is
// live (DUPLICATE_BROKER_REGISTRATION); otherwise it starts fenced at epoch
// = the offset of its RegisterBroker record (the batch goes right after
// im.Offset, see doc.go), and the old incarnation leaves ISRs and
// leaderships as if fenced.
func registerBroker(im *Image, s *sessions, now time.Time, req BrokerRegistration) ([]record, int64, error) {
	if req.ClusterID != im.ClusterID {
		return nil, 0, fmt.Errorf("register broker %d: cluster id %q, this cluster is %q: %w",
			req.ID, req.ClusterID, im.ClusterID, kerr.InconsistentClusterID)
	}
	rec := registerBrokerRecord{ID: req.ID, Host: req.Host, Port: req.Port, Rack: req.Rack, Incarnation: req.Incarnation}
	cur, ok := im.Broker(req.ID)
	if ok && cur.Incarnation == req.Incarnation {
		if cur.sameEndpoint(Broker{ID: req.ID, Host: req.Host, Port: req.Port, Rack: req.Rack}) {
			return nil, cur.Epoch, nil
		}
		return []record{rec}, cur.Epoch, nil
	}
	if ok && s.live(req.ID, now) {
		return nil, 0, fmt.Errorf("register broker %d: another incarnation has a live session: %w", req.ID, kerr.DuplicateBrokerRegistration)
	}
	recs := []record{rec}
	if ok && !cur.Fenced {
		recs = append(recs, removeBroker(im, req.ID)...)
	}
	return recs, im.Offset + 1, nil
}

// BrokerHeartbeat is a broker's BrokerHeartbeat request.
type BrokerHeartbeat struct {
	ID             int32
	Epoch          int64
	MetadataOffset int64 // the broker's applied metadata offset
	WantFence      bool
	WantShutdown   bool
}

// HeartbeatReply is the BrokerHeartbeat response, true once the records
// returned with it are committed.
type HeartbeatReply struct {
	IsCaughtUp     bool // the broker has applied its own registration
	IsFenced       bool
	ShouldShutdown bool
}

// brokerHeartbeat returns the records a heartbeat causes and the reply:
// WantShutdown starts or completes a controlled shutdown; WantFence fences;
// a fenced broker caught up with its own registration is unfenced and the
// leaderless partitions are elected again.
func brokerHeartbeat(im *Image, req BrokerHeartbeat) ([]record, HeartbeatReply, error) {
	b, ok := im.Broker(req.ID)
	if !ok {
		return nil, HeartbeatReply{}, fmt.Errorf("heartbeat of broker %d: %w", req.ID, kerr.BrokerIDNotRegistered)
	}
	if b.Epoch != req.Epoch {
		return nil, HeartbeatReply{}, fmt.Errorf("heartbeat of broker %d: epoch %d, registered %d: %w", req.ID, req.Epoch, b.Epoch, kerr.StaleBrokerEpoch)
	}
	var recs []record
	reply := HeartbeatReply{IsCaughtUp: req.MetadataOffset >= b.Epoch, IsFenced: b.Fenced}
	switch {
	case req.WantShutdown:
		recs, reply.ShouldShutdown = controlledShutdown(im, b)
		reply.IsFenced = reply.ShouldShutdown
	case req.WantFence:
		if !b.Fenced {
			recs = fenceBroker(im, b.ID)
		}
		reply.IsFenced = true
	case b.Fenced && reply.IsCaughtUp && !b.InControlledShutdown:
		recs = append([]record{brokerStateRecord{ID: b.ID, Epoch: b.Epoch}}, electLeaderless(im, b.ID)...)
		reply.IsFenced = false
	}
	return recs, reply, nil
}

// controlledShutdown returns the records of one step of b's controlled
// shutdown and whether b may shut down now. A broker leading nothing is
// fenced and may go at once; otherwise it enters controlled shutdown, its
// leaderships move to other ISR members and it leaves the ISRs; once a
// later heartbeat finds it leading nothing, it is fenced and may go.
func controlledShutdown(im *Image, b Broker) ([]record, bool) {
	switch {
	case b.Fenced:
		return nil, true
	case len(im.LedBy(b.ID)) == 0:
		return append([]record{brokerStateRecord{ID: b.ID, Epoch: b.Epoch, Fenced: true, InControlledShutdown: true}},
			removeBroker(im, b.ID)...), true
	case b.InControlledShutdown:
		return removeBroker(im, b.ID), false
	default:
		return append([]record{brokerStateRecord{ID: b.ID, Epoch: b.Epoch, InControlledShutdown: true}},
			removeBroker(im, b.ID)...), false
	}
}

// fenceBroker returns the records that fence broker id: its state, and its
// removal from ISRs and leaderships.
func fenceBroker(im *Image, id int32) []record {
	b, _ := im.Broker(id)
	return append([]record{brokerStateRecord{ID: id, Epoch: b.Epoch, Fenced: true, InControlledShutdown: b.InControlledShutdown}},
		removeBroker(im, id)...)
}

// fenceStale returns the records fencing the first unfenced broker whose
// session has expired at now, or none. One broker per change, as each
// change is planned against the image the previous one left; the shell
// calls it until it returns none.
func fenceStale(im *Image, s *sessions, now time.Time) []record {
	for _, id := range s.expired(now) {
		if b, ok := im.Broker(id); ok && !b.Fenced {
			return fenceBroker(im, id)
		}
	}
	return nil
}

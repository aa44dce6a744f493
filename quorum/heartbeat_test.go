package quorum

import (
	"errors"
	"testing"
	"time"
)

// TestRaftControllerFencesSilentBroker: with every broker heartbeating
// (a follower's forwarded as BrokerHeartbeat), none is fenced; a broker
// that stops is fenced once its session expires, on every node, and
// unfenced by its next heartbeat.
func TestRaftControllerFencesSilentBroker(t *testing.T) {
	rc := newStoppedRaftCluster(t, 3, 0)
	rc.sessionTimeout = 300 * time.Millisecond
	for i := range 3 {
		rc.start(i)
	}
	leader, _ := rc.leader()
	rc.registerAll()
	victim := leader.raft.self%3 + 1 // a follower
	beat := func(c *Controller) (HeartbeatReply, error) {
		im := c.Image()
		b, _ := im.Broker(c.raft.self)
		return c.Heartbeat(BrokerHeartbeat{ID: b.ID, Epoch: b.Epoch, MetadataOffset: im.Offset})
	}
	fenced := func(id int32) bool {
		for _, c := range rc.ctrls {
			if b, ok := c.Image().Broker(id); !ok || !b.Fenced {
				return false
			}
		}
		return true
	}
	start := time.Now()
	for time.Since(start) < 3*rc.sessionTimeout || !fenced(victim) {
		for _, c := range rc.ctrls {
			if c.raft.self == victim {
				continue
			}
			// A loaded machine can cost the quorum its leader for a
			// moment: that heartbeat is missed, as a broker's would be.
			if _, err := beat(c); err != nil && !errors.Is(err, ErrNotController) {
				t.Fatalf("heartbeat of %d: %v", c.raft.self, err)
			}
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("broker %d not fenced on every node", victim)
		}
		time.Sleep(rc.sessionTimeout / 10) // the heartbeat interval
	}
	for _, c := range rc.ctrls {
		if id := c.raft.self; id != victim && fenced(id) {
			t.Fatalf("broker %d fenced though it heartbeats", id)
		}
	}
	reply, err := beat(rc.ctrls[victim-1])
	if err != nil || reply.IsFenced || !reply.IsCaughtUp {
		t.Fatalf("heartbeat of the fenced broker %d: %+v, %v", victim, reply, err)
	}
	waitFor(t, "the broker unfenced on every node", func() bool {
		for _, c := range rc.ctrls {
			if b, _ := c.Image().Broker(victim); b.Fenced {
				return false
			}
		}
		return true
	})
}

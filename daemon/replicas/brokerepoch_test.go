package replicas_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/riffle/riffle/daemon/replicas"
	"github.com/riffle/riffle/quorum"
)

// gatedISR holds the AlterPartitions sent through it while closed, as a
// slow or failing-over controller would, and records what each answered.
type gatedISR struct {
	ctrl *quorum.Controller
	mu   sync.Mutex
	cond *sync.Cond
	open bool
	held []quorum.AlterPartition // waiting while closed
	sent []sentAlter             // answered, in order
}

type sentAlter struct {
	req quorum.AlterPartition
	err error
}

func newGatedISR(ctrl *quorum.Controller) *gatedISR {
	g := &gatedISR{ctrl: ctrl}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *gatedISR) AlterPartition(req quorum.AlterPartition) error {
	g.mu.Lock()
	g.held = append(g.held, req)
	g.cond.Broadcast()
	for !g.open {
		g.cond.Wait()
	}
	g.mu.Unlock()
	err := g.ctrl.AlterPartition(req)
	g.mu.Lock()
	g.sent = append(g.sent, sentAlter{req, err})
	g.cond.Broadcast()
	g.mu.Unlock()
	return err
}

// waitFor waits until cond, under g's lock, holds, or fails the test.
func (g *gatedISR) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	timer := time.AfterFunc(pairWait, func() {
		g.mu.Lock()
		g.cond.Broadcast()
		g.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(pairWait)
	g.mu.Lock()
	defer g.mu.Unlock()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v; held %+v, sent %+v", what, pairWait, g.held, g.sent)
		}
		g.cond.Wait()
	}
}

func (g *gatedISR) release() {
	g.mu.Lock()
	g.open = true
	g.cond.Broadcast()
	g.mu.Unlock()
}

// TestStaleBrokerEpochNotReadmitted is KIP-903 end to end: the follower
// fetches with its broker epoch, the leader proposes it for the ISR with
// that epoch, and when the proposal reaches the controller only after the
// follower restarted (a new registration, so a new broker epoch; its log
// may have lost what the old incarnation fetched), the controller refuses
// it with INELIGIBLE_REPLICA. The new incarnation's own fetches then bring
// it back, at its new epoch. A fetch without the broker epoch (Fetch v12)
// would be proposed at -1 and readmitted from the old incarnation's state.
func TestStaleBrokerEpochNotReadmitted(t *testing.T) {
	gate := (*gatedISR)(nil)
	ctrl, nodes := startPairISR(t, func(c *quorum.Controller) replicas.ISRClient {
		gate = newGatedISR(c)
		return gate
	})
	top, mp := createLedBy1(t, ctrl)
	b1, _ := ctrl.Image().Broker(1)
	old, _ := ctrl.Image().Broker(2)
	// Broker 2 leaves the ISR (as after a lag); its next fetch makes broker 1
	// propose it back, which the gate holds.
	if err := ctrl.AlterPartition(quorum.AlterPartition{BrokerID: 1, BrokerEpoch: b1.Epoch, TopicID: top.ID, Partition: mp.ID,
		LeaderEpoch: mp.LeaderEpoch, PartitionEpoch: mp.PartitionEpoch, NewISR: []quorum.ISRMember{{ID: 1, Epoch: -1}}}); err != nil {
		t.Fatal(err)
	}
	expands := func(reqs []quorum.AlterPartition) bool {
		return slices.ContainsFunc(reqs, func(r quorum.AlterPartition) bool { return r.Partition == mp.ID && len(r.NewISR) == 2 })
	}
	gate.waitFor(t, "ISR expansion proposed", func() bool { return expands(gate.held) })
	for _, r := range gate.held {
		if r.Partition == mp.ID && len(r.NewISR) == 2 {
			if m := r.NewISR[1]; m.ID != 2 || m.Epoch != old.Epoch {
				t.Errorf("expansion proposes %+v, want broker 2 at its broker epoch %d", r.NewISR, old.Epoch)
			}
		}
	}

	// Broker 2 restarts: a new registration (another endpoint makes it a new
	// incarnation on a one-voter controller), at a new broker epoch.
	if err := ctrl.RegisterBroker(quorum.Broker{ID: 2, Host: "127.0.0.1", Port: nodes[1].port(t) + 1}); err != nil {
		t.Fatal(err)
	}
	cur, _ := ctrl.Image().Broker(2)
	if cur.Epoch == old.Epoch || cur.Fenced {
		t.Fatalf("re-registered broker 2: %+v, was %+v", cur, old)
	}
	gate.release()
	gate.waitFor(t, "stale expansion answered", func() bool {
		return slices.ContainsFunc(gate.sent, func(s sentAlter) bool { return s.req.Partition == mp.ID && len(s.req.NewISR) == 2 })
	})
	for _, s := range gate.sent {
		if s.req.Partition == mp.ID && len(s.req.NewISR) == 2 {
			if !errors.Is(s.err, kerr.IneligibleReplica) {
				t.Fatalf("expansion with broker 2 at its previous epoch %d answered %v, want INELIGIBLE_REPLICA", old.Epoch, s.err)
			}
			break
		}
	}

	// The new incarnation fetches at its own epoch and rejoins.
	gate.waitFor(t, "ISR expansion at the new broker epoch", func() bool {
		return slices.ContainsFunc(gate.sent, func(s sentAlter) bool {
			return s.req.Partition == mp.ID && len(s.req.NewISR) == 2 && s.req.NewISR[1].Epoch == cur.Epoch && s.err == nil
		})
	})
	if isr := ctrl.Image().Topic("t").Partitions[mp.ID].ISR; !slices.Equal(isr, []int32{1, 2}) {
		t.Fatalf("ISR %v after the new incarnation caught up", isr)
	}
}

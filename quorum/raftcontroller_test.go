package quorum

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// raftCluster is n Controllers on raft nodes in one process, ticking fast.
type raftCluster struct {
	t     *testing.T
	net   *chanNetwork
	ctrls []*Controller // ctrls[i] is node i+1
}

func newRaftCluster(t *testing.T, n int) *raftCluster {
	voters := make([]uint64, n)
	for i := range voters {
		voters[i] = RaftID(int32(i + 1))
	}
	rc := &raftCluster{t: t, net: &chanNetwork{peers: map[uint64]*Controller{}}}
	for _, id := range voters {
		b := Broker{ID: nodeOfRaftID(id), Host: "127.0.0.1", Port: 9090 + int32(id)}
		c, err := openRaft(Options{NodeID: b.ID, Broker: b, ValidateTopicConfig: ValidateTopicConfig, Logger: quietLogger()},
			raftOptions{voters: voters, storage: newMemRaftStorage(), network: rc.net, tick: 2 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		rc.net.mu.Lock()
		rc.net.peers[id] = c
		rc.net.mu.Unlock()
		rc.ctrls = append(rc.ctrls, c)
	}
	return rc
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// leader waits until every node names the same controller, which has
// registered itself, and returns it and a follower.
func (rc *raftCluster) leader() (leader, follower *Controller) {
	waitFor(rc.t, "an agreed controller", func() bool {
		id := rc.ctrls[0].Image().ControllerID
		for _, c := range rc.ctrls {
			if im := c.Image(); im.ControllerID != id || id == -1 || len(im.Brokers) == 0 {
				return false
			}
		}
		return true
	})
	id := rc.ctrls[0].Image().ControllerID
	return rc.ctrls[id-1], rc.ctrls[id%int32(len(rc.ctrls))]
}

// TestRaftControllerForwards: every change made on a follower is forwarded
// to the active controller, committed, and seen by the follower before the
// change method returns; errors come back as the same sentinels.
func TestRaftControllerForwards(t *testing.T) {
	rc := newRaftCluster(t, 3)
	leader, follower := rc.leader()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	topic, err := follower.CreateTopic(CreateTopic{Name: "orders", Partitions: -1, ReplicationFactor: 1,
		Configs: map[string]string{"retention.ms": "1000"}}, 3, 1, false)
	must(err)
	if len(topic.Partitions) != 3 || topic.Configs["retention.ms"] != "1000" || follower.Image().Topic("orders") != topic {
		t.Fatalf("forwarded create returned %+v", topic)
	}
	if _, err := follower.CreateTopic(CreateTopic{Name: "orders", Partitions: 1, ReplicationFactor: 1}, 1, 1, false); !errors.Is(err, ErrTopicExists) {
		t.Errorf("forwarded create of an existing topic: %v", err)
	}
	if _, err := follower.CreateTopic(CreateTopic{Name: "v", Partitions: 1, ReplicationFactor: 1}, 1, 1, true); err != nil {
		t.Errorf("validate-only on a follower: %v", err)
	}
	must(follower.CreatePartitions("orders", 5, false))
	must(follower.AlterTopicConfigs("orders", map[string]*string{"retention.ms": nil, "segment.ms": strp("60000")}, false))
	if err := follower.AlterTopicConfigs("orders", map[string]*string{"no.such": strp("1")}, false); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("forwarded bad config: %v", err)
	}
	must(follower.DeleteTopic("orders"))
	if err := follower.DeleteTopic("orders"); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("forwarded delete of a deleted topic: %v", err)
	}

	seen := map[int64]bool{}
	for i := range 30 {
		c := follower
		if i%3 == 0 {
			c = leader
		}
		first, err := c.AllocateProducerIDs(40)
		must(err)
		for id := first; id < first+40; id++ {
			if seen[id] {
				t.Fatalf("producer id %d handed out twice", id)
			}
			seen[id] = true
		}
	}

	want := leader.Image()
	for _, c := range rc.ctrls {
		waitFor(t, "every node to apply the changes", func() bool { return c.Image().Offset == want.Offset })
		if got := c.Image(); !reflect.DeepEqual(got, want) {
			t.Errorf("node %d image:\n%s\nleader's:\n%s", got.ControllerID, formatImage(got), formatImage(want))
		}
	}
	st, err := leader.QuorumStatus()
	must(err)
	if st.Leader != st.NodeID || len(st.Match) != 3 {
		t.Errorf("leader's quorum status %+v", st)
	}
}

// TestRaftControllerOnChange: a follower's listeners see the changes the
// controller commits, in order.
func TestRaftControllerOnChange(t *testing.T) {
	rc := newRaftCluster(t, 3)
	leader, follower := rc.leader()
	got := make(chan string, 10)
	follower.OnChange(func(prev, next *Image) {
		for t := range next.Topics() {
			if prev.Topic(t.Name) == nil {
				got <- t.Name
			}
		}
	})
	for i := range 3 {
		if _, err := leader.CreateTopic(CreateTopic{Name: fmt.Sprint("t", i), Partitions: 1, ReplicationFactor: 1}, 1, 1, false); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		select {
		case name := <-got:
			if want := fmt.Sprint("t", i); name != want {
				t.Errorf("change %d created %s, want %s", i, name, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("change %d not delivered", i)
		}
	}
}

// TestRaftControllerFailover: with the controller gone, the other voters
// elect a new one and changes made on them commit again.
func TestRaftControllerFailover(t *testing.T) {
	rc := newRaftCluster(t, 3)
	leader, _ := rc.leader()
	if _, err := leader.CreateTopic(CreateTopic{Name: "before", Partitions: 1, ReplicationFactor: 1}, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	old := leader.Image().ControllerID
	leader.Close()
	var rest []*Controller
	for _, c := range rc.ctrls {
		if c != leader {
			rest = append(rest, c)
		}
	}
	var lastErr error
	waitFor(t, "a change on a surviving voter to commit", func() bool {
		_, lastErr = rest[0].CreateTopic(CreateTopic{Name: "after", Partitions: 1, ReplicationFactor: 1}, 1, 1, false)
		return lastErr == nil || errors.Is(lastErr, ErrTopicExists)
	})
	for _, c := range rest {
		waitFor(t, "both survivors to see both topics", func() bool {
			im := c.Image()
			return im.Topic("before") != nil && im.Topic("after") != nil && im.ControllerID != old && im.ControllerID != -1
		})
	}
}

// TestRaftControllerHandleRequest: a voter that is not the controller
// answers NOT_CONTROLLER rather than forward again, and refuses requests
// that are not controller changes.
func TestRaftControllerHandleRequest(t *testing.T) {
	rc := newRaftCluster(t, 3)
	_, follower := rc.leader()
	resp, err := follower.HandleRequest(t.Context(), allocateProducerIDsRequest(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := allocateProducerIDsResult(resp); !errors.Is(err, ErrNotController) {
		t.Errorf("AllocateProducerIds on a follower: %v", err)
	}
	if _, err := follower.HandleRequest(t.Context(), kmsg.NewPtrMetadataRequest()); err == nil {
		t.Error("a Metadata request was served as a controller change")
	}
}

// TestRaftControllerOneVoter: a quorum of one runs the same code.
func TestRaftControllerOneVoter(t *testing.T) {
	rc := newRaftCluster(t, 1)
	c, _ := rc.leader()
	if _, err := c.CreateTopic(CreateTopic{Name: "solo", Partitions: 2, ReplicationFactor: 1}, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	first, err := c.AllocateProducerIDs(5)
	if err != nil {
		t.Fatal(err)
	}
	if im := c.Image(); im.Topic("solo") == nil || im.ProducerIDsEnd < first+5 || im.ControllerID != 1 {
		t.Errorf("image after the changes:\n%s", formatImage(im))
	}
}

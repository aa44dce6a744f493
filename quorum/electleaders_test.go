package quorum

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRaftControllerElectLeaders: after a broker is fenced and returns to
// the ISRs, its partitions are led by others; ElectLeaders PREFERRED on a
// voter that is not the controller (forwarded as ElectLeaders v2) moves
// each back to its first replica, answers per partition, and returns with
// the elections in that voter's image. Asked again, nothing is needed.
func TestRaftControllerElectLeaders(t *testing.T) {
	rc := newStoppedRaftCluster(t, 3, 0)
	follower, out, moved := moveLeadersAway(t, rc)
	if res, err := follower.ElectLeaders(ElectPreferred, []TopicPartition{{"t", 0}, {"nope", 0}}); err != nil || len(res) != 2 ||
		res[0].Err != nil || !errors.Is(res[1].Err, ErrUnknownTopic) {
		t.Fatalf("electing t-0 and nope-0: %+v, %v", res, err)
	}
	if p := follower.Image().Topic("t").Partitions[0]; p.Leader != out {
		t.Fatalf("after its election t-0 is %+v, want leader %d", p, out)
	}
	res, err := follower.ElectLeaders(ElectPreferred, nil)
	if err != nil {
		t.Fatal(err)
	}
	var elected []int32
	for _, r := range res {
		if r.Err != nil {
			t.Errorf("%+v", r)
		}
		elected = append(elected, r.Partition)
	}
	if !slices.Equal(elected, moved[1:]) {
		t.Errorf("elected %v of all, want %v", elected, moved[1:])
	}
	for _, p := range follower.Image().Topic("t").Partitions {
		if p.Leader != p.Replicas[0] {
			t.Errorf("after electing all, partition %+v", p)
		}
	}
	if res, err := follower.ElectLeaders(ElectPreferred, []TopicPartition{{"t", 1}}); err != nil || len(res) != 1 ||
		!errors.Is(res[0].Err, kerr.ElectionNotNeeded) {
		t.Errorf("electing a partition its preferred leader leads: %+v, %v", res, err)
	}
	if res, err := follower.ElectLeaders(ElectUnclean, []TopicPartition{{"t", 1}}); err != nil || len(res) != 1 ||
		!errors.Is(res[0].Err, kerr.ElectionNotNeeded) {
		t.Errorf("unclean election of a partition with a leader: %+v, %v", res, err)
	}
	if _, err := follower.ElectLeaders(5, nil); !errors.Is(err, kerr.InvalidRequest) {
		t.Errorf("election type 5: %v", err)
	}
}

// moveLeadersAway starts rc, creates topic t (3 partitions, RF 3), fences
// and unfences the preferred leader out of partition 0 so that its
// partitions are led by others, and takes it back into their ISRs. It
// returns a voter that is not the controller, out, and out's partitions.
func moveLeadersAway(t *testing.T, rc *raftCluster) (follower *Controller, out int32, moved []int32) {
	rc.sessionTimeout = time.Minute
	for i := range 3 {
		rc.start(i)
	}
	controller, follower := rc.leader()
	rc.registerAll()
	if _, err := controller.CreateTopic(CreateTopic{Name: "t", Partitions: 3, ReplicationFactor: 3}, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the topic on the follower", func() bool { return follower.Image().Topic("t") != nil })
	im := follower.Image()
	out = im.Topic("t").Partitions[0].Replicas[0]
	b, _ := im.Broker(out)
	for _, fence := range []bool{true, false} {
		if _, err := rc.ctrls[out-1].Heartbeat(BrokerHeartbeat{ID: out, Epoch: b.Epoch, MetadataOffset: im.Offset, WantFence: fence}); err != nil {
			t.Fatal(err)
		}
	}
	// The fence and the unfence are committed, and applied by the active
	// controller, when Heartbeat returns; the follower may apply them later.
	var unfenced int64
	for _, c := range rc.ctrls {
		unfenced = max(unfenced, c.Image().Offset)
	}
	waitFor(t, "the unfence on the follower", func() bool { return follower.Image().Offset >= unfenced })
	im = follower.Image()
	for _, p := range im.Topic("t").Partitions {
		if p.Replicas[0] != out {
			continue
		}
		if p.Leader == out {
			t.Fatalf("partition %+v still led by the fenced and unfenced broker", p)
		}
		moved = append(moved, p.ID)
		if err := follower.AlterPartition(proposeISR(im, im.Topic("t"), p, p.Replicas...)); err != nil {
			t.Fatal(err)
		}
	}
	return follower, out, moved
}

// TestRaftControllerAutoRebalance: with the automatic leader rebalance on,
// the active controller gives a broker back the partitions it is the
// preferred leader of once it is in their ISRs again (it leads none of
// them: above the 10% imbalance).
func TestRaftControllerAutoRebalance(t *testing.T) {
	rc := newStoppedRaftCluster(t, 3, 0)
	rc.rebalanceEvery = 20 * time.Millisecond
	follower, out, moved := moveLeadersAway(t, rc)
	waitFor(t, "the rebalance", func() bool {
		for _, id := range moved {
			if follower.Image().Topic("t").Partitions[id].Leader != out {
				return false
			}
		}
		return true
	})
}

// TestRaftControllerForwardWaits: a change forwarded to the controller
// returns only once this voter's image holds it, even when this voter
// learns of the commit late: with the raft messages to it held, the call
// is still waiting after the controller answered, and returns with the
// change applied once they flow again.
func TestRaftControllerForwardWaits(t *testing.T) {
	rc := newRaftCluster(t, 3)
	leader, follower := rc.leader()
	if _, err := leader.CreateTopic(CreateTopic{Name: "t", Partitions: 1, ReplicationFactor: 1}, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the topic on the follower", func() bool { return follower.Image().Topic("t") != nil })
	rc.net.answered = make(chan kmsg.Response, 1)
	for _, c := range []struct {
		name    string
		change  func() error
		applied func(im *Image) bool
	}{
		{"CreatePartitions", func() error { return follower.CreatePartitions("t", 3, false) },
			func(im *Image) bool { return len(im.Topic("t").Partitions) == 3 }},
		{"AlterTopicConfigs", func() error {
			return follower.AlterTopicConfigs("t", map[string]*string{"retention.ms": strp("1000")}, false)
		}, func(im *Image) bool { return im.Topic("t").Configs["retention.ms"] == "1000" }},
		{"DeleteTopic", func() error { return follower.DeleteTopic("t") },
			func(im *Image) bool { return im.Topic("t") == nil }},
	} {
		rc.net.hold(RaftID(follower.raft.self))
		done := make(chan bool, 1)
		go func() {
			if err := c.change(); err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			done <- c.applied(follower.Image())
		}()
		<-rc.net.answered
		select {
		case <-done:
			t.Fatalf("%s returned before the follower could apply it", c.name)
		case <-time.After(100 * time.Millisecond): // still waiting, as it should
		}
		rc.net.hold(0)
		if !<-done {
			t.Errorf("%s returned without the change in the follower's image", c.name)
		}
	}
}

// The topic's unclean.leader.election.enable wins over the cluster-wide
// default, which wins over the built-in false.
func TestUncleanElectionDefaults(t *testing.T) {
	on, off := &Topic{Configs: map[string]string{}}, &Topic{Configs: map[string]string{"unclean.leader.election.enable": "false"}}
	im := emptyImage(1)
	if uncleanElection(im, on) {
		t.Error("unclean election on by default")
	}
	im.ClusterConfigs = map[string]string{"unclean.leader.election.enable": "TRUE"}
	if !uncleanElection(im, on) || uncleanElection(im, off) {
		t.Errorf("with the cluster default on: no override %v, override false %v", uncleanElection(im, on), uncleanElection(im, off))
	}
}

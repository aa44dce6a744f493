package quorum

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// proposeISR is the AlterPartition that partition p of topic t's leader
// sends for isr, with the epochs of im.
func proposeISR(im *Image, t *Topic, p Partition, isr ...int32) AlterPartition {
	leader, _ := im.Broker(p.Leader)
	req := AlterPartition{BrokerID: p.Leader, BrokerEpoch: leader.Epoch, TopicID: t.ID, Partition: p.ID,
		LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch}
	for _, id := range isr {
		b, _ := im.Broker(id)
		req.NewISR = append(req.NewISR, ISRMember{ID: id, Epoch: b.Epoch})
	}
	return req
}

// TestRaftControllerAlterPartition: a partition's leader on a voter that
// is not the controller proposes ISR changes; each is forwarded as
// AlterPartition v3, committed as a PartitionChange (ISR replaced,
// partition epoch + 1, leader epoch kept) and in the leader's image when
// the call returns. Refusals come back as the Kafka errors with the
// controller's message: a stale partition epoch INVALID_UPDATE_VERSION, a
// stale leader epoch FENCED_LEADER_EPOCH, a fenced member
// INELIGIBLE_REPLICA. Fencing a broker still takes it out of every ISR and
// elects its partitions' leaders from the ISR.
func TestRaftControllerAlterPartition(t *testing.T) {
	rc := newStoppedRaftCluster(t, 3, 0)
	rc.sessionTimeout = time.Minute // heartbeats are served; no session expires
	for i := range 3 {
		rc.start(i)
	}
	controller, _ := rc.leader()
	rc.registerAll()
	if _, err := controller.CreateTopic(CreateTopic{Name: "t", Partitions: 3, ReplicationFactor: 3}, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	// A partition led by a broker that is not the controller: placement
	// spreads the leaders over the three.
	var node *Controller
	var part int32
	waitFor(t, "the topic on every node", func() bool {
		for _, c := range rc.ctrls {
			if c.Image().Topic("t") == nil {
				return false
			}
		}
		return true
	})
	for _, p := range controller.Image().Topic("t").Partitions {
		if p.Leader != controller.raft.self {
			node, part = rc.ctrls[p.Leader-1], p.ID
		}
	}
	if node == nil {
		t.Fatal("the controller leads every partition")
	}
	im := node.Image()
	topic := im.Topic("t")
	before := topic.Partitions[part]
	out := before.Replicas[len(before.Replicas)-1] // dropped from the ISR, later fenced
	if out == before.Leader {
		out = before.Replicas[0]
	}
	shrunk := slices.DeleteFunc(slices.Clone(before.ISR), func(id int32) bool { return id == out })
	req := proposeISR(im, topic, before, shrunk...)
	if err := node.AlterPartition(req); err != nil {
		t.Fatalf("forwarded ISR shrink: %v", err)
	}
	after := node.Image().Topic("t").Partitions[part]
	if !slices.Equal(after.ISR, shrunk) || after.PartitionEpoch != before.PartitionEpoch+1 ||
		after.LeaderEpoch != before.LeaderEpoch || after.Leader != before.Leader {
		t.Fatalf("after shrinking the ISR to %v the leader's image has %+v (was %+v)", shrunk, after, before)
	}

	refused := func(what string, err, want error, msg string) {
		t.Helper()
		if !errors.Is(err, want) || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: got %v, want %v with %q", what, err, want, msg)
		}
	}
	refused("a stale partition epoch", node.AlterPartition(req), kerr.InvalidUpdateVersion, "partition epoch")
	stale := proposeISR(node.Image(), topic, after, before.ISR...)
	stale.LeaderEpoch--
	refused("a stale leader epoch", node.AlterPartition(stale), kerr.FencedLeaderEpoch, "leader epoch")
	// KIP-903: the dropped replica proposed at a broker epoch that is not
	// its registration's (a fetch of an incarnation before a restart).
	previous := proposeISR(node.Image(), topic, after, before.ISR...)
	for i := range previous.NewISR {
		if previous.NewISR[i].ID == out {
			previous.NewISR[i].Epoch--
		}
	}
	refused("a member at a previous broker epoch", node.AlterPartition(previous), kerr.IneligibleReplica, "of another epoch")

	// Fencing the dropped replica: it leaves every ISR, and the partitions
	// it led get a leader from their ISR at a new leader epoch.
	b, _ := im.Broker(out)
	if _, err := rc.ctrls[out-1].Heartbeat(BrokerHeartbeat{ID: out, Epoch: b.Epoch, MetadataOffset: im.Offset, WantFence: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the fencing in the leader's image", func() bool { b, _ := node.Image().Broker(out); return b.Fenced })
	im = node.Image()
	for i, p := range im.Topic("t").Partitions {
		was := topic.Partitions[i]
		if int32(i) != part && was.Leader == out && (p.Leader == out || !slices.Contains(was.ISR, p.Leader) || p.LeaderEpoch != was.LeaderEpoch+1) {
			t.Errorf("partition %d led by the fenced broker %d: now %+v, was %+v", i, out, p, was)
		}
		if slices.Contains(p.ISR, out) {
			t.Errorf("partition %d keeps the fenced broker %d in its ISR %v", i, out, p.ISR)
		}
	}
	grow := proposeISR(im, topic, im.Topic("t").Partitions[part], before.ISR...)
	refused("a fenced member", node.AlterPartition(grow), kerr.IneligibleReplica, "fenced")
	if got := node.Image().Topic("t").Partitions[part]; !slices.Equal(got.ISR, shrunk) || got.PartitionEpoch != after.PartitionEpoch {
		t.Errorf("refused changes changed the partition: %+v", got)
	}
}

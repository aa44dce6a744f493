package quorum

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestRaftControllerReassign: on a voter that is not the controller,
// AlterPartitionReassignments is forwarded (v0) and returns with the
// reassignment in that voter's image; refusals come back per partition as
// Kafka's errors. The leader's AlterPartition (forwarded too) that brings
// the adding replica into the ISR completes it, and since the leader was
// removed it is answered NEW_LEADER_ELECTED with the change committed:
// replicas the target, leader the kept replica at the next leader epoch.
func TestRaftControllerReassign(t *testing.T) {
	rc := newStoppedRaftCluster(t, 3, 0)
	rc.sessionTimeout = time.Minute
	for i := range 3 {
		rc.start(i)
	}
	controller, follower := rc.leader()
	rc.registerAll()
	if _, err := controller.CreateTopic(CreateTopic{Name: "r", Partitions: 1, ReplicationFactor: 2}, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the topic on the follower", func() bool { return follower.Image().Topic("r") != nil })
	before := follower.Image().Topic("r").Partitions[0]
	removed, kept := before.Leader, before.Replicas[0]
	if kept == removed {
		kept = before.Replicas[1]
	}
	added := slices.DeleteFunc([]int32{1, 2, 3}, func(id int32) bool { return slices.Contains(before.Replicas, id) })[0]

	res, err := follower.AlterPartitionReassignments([]Reassignment{
		{TopicPartition{"r", 0}, []int32{kept, added}},
		{TopicPartition{"r", 1}, []int32{kept}},
		{TopicPartition{"nope", 0}, nil},
	})
	if err != nil || len(res) != 3 || res[0].Err != nil || !errors.Is(res[1].Err, ErrUnknownTopic) || !errors.Is(res[2].Err, ErrUnknownTopic) {
		t.Fatalf("reassigning: %+v, %v", res, err)
	}
	p := follower.Image().Topic("r").Partitions[0]
	if !slices.Equal(p.Replicas, []int32{kept, added, removed}) || !slices.Equal(p.Adding, []int32{added}) ||
		!slices.Equal(p.Removing, []int32{removed}) || p.Leader != removed || p.LeaderEpoch != before.LeaderEpoch {
		t.Fatalf("in progress: %+v", p)
	}
	if res, err := follower.AlterPartitionReassignments([]Reassignment{{TopicPartition{"r", 0}, []int32{kept, 9}}}); err != nil ||
		!errors.Is(res[0].Err, kerr.InvalidReplicaAssignment) {
		t.Errorf("an unregistered broker: %+v, %v", res, err)
	}

	im := follower.Image()
	err = follower.AlterPartition(proposeISR(im, im.Topic("r"), p, append(slices.Clone(p.ISR), added)...))
	if !errors.Is(err, kerr.NewLeaderElected) {
		t.Fatalf("the ISR change completing the reassignment: %v, want NEW_LEADER_ELECTED", err)
	}
	waitFor(t, "the completion on the follower", func() bool {
		return !follower.Image().Topic("r").Partitions[0].Reassigning()
	})
	p = follower.Image().Topic("r").Partitions[0]
	if !slices.Equal(p.Replicas, []int32{kept, added}) || p.Leader != kept || p.LeaderEpoch != before.LeaderEpoch+1 {
		t.Errorf("completed: %+v", p)
	}
	if res, err := follower.AlterPartitionReassignments([]Reassignment{{TopicPartition{"r", 0}, nil}}); err != nil ||
		!errors.Is(res[0].Err, kerr.NoReassignmentInProgress) {
		t.Errorf("cancelling after completion: %+v, %v", res, err)
	}
}

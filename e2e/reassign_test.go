package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/internal/brokertest"
)

// TestReassignPartition moves partition 0 of a topic with replication
// factor 2 (min.insync.replicas 2) from brokers {a,b} to {b,c} on a
// three-node cluster while a producer keeps producing with acks=all and
// idempotence: once with kadm, removing the follower (the leader stays, at
// a new leader epoch); once with `riffle topic reassign`, removing the
// leader (b takes over). Each time the new replica catches up and the
// reassignment completes by itself: every node shows the target replicas
// and ISR, ListPartitionReassignments is empty, the removed broker's
// partition directory is gone, every acknowledged record is read back at
// its offset, and the new replica's log is the leader's byte for byte.
func TestReassignPartition(t *testing.T) {
	c := brokertest.StartCluster(t, 3)
	addrs := c.Addrs()
	all := []int32{1, 2, 3}
	waitViews(t, addrs, "three brokers and one controller on every node", agreedController(all, all))
	cl := newClient(t, addrs[0], kgo.SeedBrokers(addrs...))
	adm := kadm.NewClient(cl)
	for _, tc := range []struct {
		name         string
		removeLeader bool
	}{{"follower-removed-with-kadm", false}, {"leader-removed-with-cli", true}} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "reassign-" + tc.name
			createReplicatedTopic(t, cl, topic, 1, 2, map[string]string{"min.insync.replicas": "2"})
			before := waitPartition(t, addrs, topic, replicationWait, "a leader and both replicas in the ISR", func(s partState) bool {
				return s.leader > 0 && len(s.replicas) == 2 && slices.Equal(s.isr, slices.Sorted(slices.Values(s.replicas)))
			})
			p := startAckedProducer(t, addrs, topic, "value")
			p.waitAcks(t, 300, replicationWait, "before the reassignment")

			kept, removed := before.leader, otherReplica(before)
			if tc.removeLeader {
				kept, removed = removed, kept
			}
			added := slices.DeleteFunc(slices.Clone(all), func(id int32) bool { return slices.Contains(before.replicas, id) })[0]
			target := []int32{kept, added}
			start := time.Now()
			if tc.removeLeader {
				out := ok(t, addrs[0], "", "topic", "reassign", "--topic", topic, "--partition", "0",
					"--replicas", fmt.Sprintf("%d,%d", kept, added), "--json")
				if rs := decodeJSON[[]reassignResultJSON](t, out); len(rs) != 1 || rs[0].Error != "" ||
					(rs[0].Status != "in progress" && rs[0].Status != "done") {
					t.Fatalf("riffle topic reassign: %s", out)
				}
			} else {
				var req kadm.AlterPartitionAssignmentsReq
				req.Assign(topic, 0, target)
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				resps, err := adm.AlterPartitionAssignments(ctx, req)
				cancel()
				if r := resps[topic][0]; err != nil || r.Err != nil {
					t.Fatalf("kadm AlterPartitionAssignments: %v / %v %s", err, r.Err, r.ErrMessage)
				}
			}
			// In progress it lists the target then the removed replica,
			// adding c and removing the other; it may be done already.
			for _, r := range listReassignments(t, adm, topic) {
				if !slices.Equal(r.Replicas, []int32{kept, added, removed}) || !slices.Equal(r.AddingReplicas, []int32{added}) ||
					!slices.Equal(r.RemovingReplicas, []int32{removed}) {
					t.Errorf("reassignment in progress listed as %+v, want replicas %v adding [%d] removing [%d]",
						r, []int32{kept, added, removed}, added, removed)
				}
			}
			after := waitPartition(t, addrs, topic, replicationWait, fmt.Sprintf("replicas %v in sync on every node", target), func(s partState) bool {
				return slices.Equal(s.replicas, target) && slices.Equal(s.isr, slices.Sorted(slices.Values(target))) && s.leader == kept
			})
			took := time.Since(start)
			if after.epoch <= before.epoch {
				t.Errorf("leader epoch %d after the reassignment, %d before: removing a replica must bump it", after.epoch, before.epoch)
			}
			if rs := listReassignments(t, adm, topic); len(rs) != 0 {
				t.Errorf("reassignments listed after completion: %+v", rs)
			}
			if tc.removeLeader {
				if out := ok(t, addrs[0], "", "topic", "reassign", "--list", "--json"); strings.TrimSpace(out) != "[]" {
					t.Errorf("riffle topic reassign --list after completion: %s", out)
				}
			}
			dir := filepath.Join(c.Node(removed).DataDir(), topic+"-0")
			waitFor(t, replicationWait, "the removed replica's directory "+dir+" deleted", func() bool {
				_, err := os.Stat(dir)
				return os.IsNotExist(err)
			})
			p.waitAcks(t, 300, replicationWait, "after the reassignment")
			acked := p.stop(t)
			checkAckedReadBack(t, addrs, topic, acked)
			n := waitSameLog(t, []string{c.Node(kept).DataDir(), c.Node(added).DataDir()}, topic, "the replicas of "+topic)
			t.Logf("replicas %v -> %v (leader %d epoch %d -> leader %d epoch %d) in %v while producing; %d acknowledged; the logs of %d and %d hold the same %d bytes",
				before.replicas, target, before.leader, before.epoch, after.leader, after.epoch, took.Round(time.Millisecond),
				len(acked), kept, added, n)
		})
	}
	t.Run("cancelled-with-cli", func(t *testing.T) { testReassignCancel(t, c, cl, adm) })
}

// testReassignCancel starts a reassignment whose new replica cannot catch
// up (its broker is stopped, so fenced: still registered) while a producer
// keeps producing: `riffle topic reassign --list` shows it in progress
// with its adding and removing replicas; `--cancel` reverts the partition
// to its replicas at a new leader epoch, and once the broker is back it
// holds no directory of the partition. Every acknowledged record is read
// back.
func testReassignCancel(t *testing.T, c *brokertest.Cluster, cl *kgo.Client, adm *kadm.Client) {
	addrs := c.Addrs()
	const topic = "reassign-cancelled"
	createReplicatedTopic(t, cl, topic, 1, 2, map[string]string{"min.insync.replicas": "2"})
	inSync := func(replicas []int32) func(partState) bool {
		return func(s partState) bool {
			return s.leader > 0 && slices.Equal(s.replicas, replicas) && slices.Equal(s.isr, slices.Sorted(slices.Values(replicas)))
		}
	}
	before := waitPartition(t, addrs, topic, replicationWait, "a leader and both replicas in the ISR", func(s partState) bool {
		return inSync(s.replicas)(s) && len(s.replicas) == 2
	})
	// The broker to stop must not be the active controller (that would
	// only add an election): make the controller a replica first if it is
	// not.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	m, err := nodeMetadata(ctx, addrs[0])
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if ctrl := m.ControllerID; !slices.Contains(before.replicas, ctrl) {
		out := ok(t, addrs[0], "", "topic", "reassign", "--topic", topic, "--partition", "0",
			"--replicas", fmt.Sprintf("%d,%d", before.leader, ctrl), "--json")
		t.Logf("the controller %d made a replica first: %s", ctrl, strings.TrimSpace(out))
		target := []int32{before.leader, ctrl}
		before = waitPartition(t, addrs, topic, replicationWait, fmt.Sprintf("replicas %v in sync", target), inSync(target))
	}
	p := startAckedProducer(t, addrs, topic, "value")
	p.waitAcks(t, 300, replicationWait, "before the reassignment")
	kept, removed := before.leader, otherReplica(before)
	added := slices.DeleteFunc([]int32{1, 2, 3}, func(id int32) bool { return slices.Contains(before.replicas, id) })[0]
	c.Node(added).Stop()
	live := c.Node(kept).Addr() // the CLI's seed broker, not the stopped one
	waitPartition(t, liveAddrs(c, added), topic, replicationWait, fmt.Sprintf("broker %d fenced", added),
		func(s partState) bool { return !slices.Contains(s.brokers, added) })
	out := ok(t, live, "", "topic", "reassign", "--topic", topic, "--partition", "0",
		"--replicas", fmt.Sprintf("%d,%d", kept, added), "--json")
	if rs := decodeJSON[[]reassignResultJSON](t, out); len(rs) != 1 || rs[0].Status != "in progress" {
		t.Fatalf("reassigning to a stopped broker: %s", out)
	}
	listed := decodeJSON[[]struct {
		Topic     string  `json:"topic"`
		Partition int32   `json:"partition"`
		Replicas  []int32 `json:"replicas"`
		Adding    []int32 `json:"adding"`
		Removing  []int32 `json:"removing"`
	}](t, ok(t, live, "", "topic", "reassign", "--list", "--json"))
	if len(listed) != 1 || listed[0].Topic != topic || !slices.Equal(listed[0].Replicas, []int32{kept, added, removed}) ||
		!slices.Equal(listed[0].Adding, []int32{added}) || !slices.Equal(listed[0].Removing, []int32{removed}) {
		t.Errorf("listed %+v, want %s-0 replicas %v adding [%d] removing [%d]", listed, topic, []int32{kept, added, removed}, added, removed)
	}
	out = ok(t, live, "", "topic", "reassign", "--topic", topic, "--partition", "0", "--cancel", "--json")
	if rs := decodeJSON[[]reassignResultJSON](t, out); len(rs) != 1 || rs[0].Status != "cancelled" {
		t.Fatalf("cancelling: %s", out)
	}
	after := waitPartition(t, liveAddrs(c, added), topic, replicationWait, "the replicas before", inSync(before.replicas))
	if after.epoch <= before.epoch {
		t.Errorf("leader epoch %d after the cancel, %d before: dropping the adding replica must bump it", after.epoch, before.epoch)
	}
	if rs := listReassignments(t, adm, topic); len(rs) != 0 {
		t.Errorf("reassignments listed after the cancel: %+v", rs)
	}
	c.Node(added).Restart()
	dir := filepath.Join(c.Node(added).DataDir(), topic+"-0")
	waitPartition(t, addrs, topic, replicationWait, "every node back to the replicas before", inSync(before.replicas))
	waitFor(t, replicationWait, "no directory "+dir+" on the broker the reassignment was adding", func() bool {
		_, err := os.Stat(dir)
		return os.IsNotExist(err)
	})
	p.waitAcks(t, 300, replicationWait, "after the cancel")
	checkAckedReadBack(t, addrs, topic, p.stop(t))
}

// reassignResultJSON is a result of `riffle topic reassign --json`.
type reassignResultJSON struct {
	Status string `json:"status"`
	Error  string `json:"error"`
}

// otherReplica is the replica of s that does not lead.
func otherReplica(s partState) int32 {
	for _, id := range s.replicas {
		if id != s.leader {
			return id
		}
	}
	panic("no follower in " + s.String())
}

// listReassignments lists partition 0 of topic's reassignment in progress
// with kadm (none: empty).
func listReassignments(t *testing.T, adm *kadm.Client, topic string) []kadm.ListPartitionReassignmentsResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var set kadm.TopicsSet
	set.Add(topic, 0)
	resps, err := adm.ListPartitionReassignments(ctx, set)
	if err != nil {
		t.Fatalf("kadm ListPartitionReassignments: %v", err)
	}
	return resps.Sorted()
}

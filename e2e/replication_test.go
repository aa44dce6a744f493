package e2e

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/internal/brokertest"
)

// replicatedCluster starts three nodes, waits for their quorum and creates
// topic (one partition, replication factor 3) with min.insync.replicas
// minISR and the short lag time, and waits until it has a leader and a
// full ISR on every node. extraArgs go to every node.
func replicatedCluster(t *testing.T, topic string, minISR int, extraArgs ...string) (*brokertest.Cluster, partState) {
	t.Helper()
	c := brokertest.StartCluster(t, 3, extraArgs...)
	addrs := c.Addrs()
	all := []int32{1, 2, 3}
	waitViews(t, addrs, "three brokers and one controller on every node", agreedController(all, all))
	createReplicatedTopic(t, newClient(t, addrs[0], kgo.SeedBrokers(addrs...)), topic, 1, 3, map[string]string{
		"min.insync.replicas":     strconv.Itoa(minISR),
		"replica.lag.time.max.ms": strconv.Itoa(lagTimeMaxMs),
	})
	st := waitFullISR(t, c, topic, "a leader and a full ISR")
	return c, st
}

// TestReplicationSurvivesLeaderKills produces with acks=all and
// idempotence while the partition's leader is killed with kill -9 and
// restarted, again and again (3 times; 20 with RIFFLE_LONG=1), every
// other time with its followers paused just before, so that it holds a
// tail they lack and must truncate when it returns: every
// acknowledged record is read back once, at its acknowledged offset, and
// the three replicas' segment files end up byte for byte the same.
func TestReplicationSurvivesLeaderKills(t *testing.T) {
	kills := 3
	if os.Getenv("RIFFLE_LONG") == "1" {
		kills = 20
	}
	const topic = "leader-kills"
	c, st := replicatedCluster(t, topic, 2)
	addrs := c.Addrs()
	p := startAckedProducer(t, addrs, topic, "value")
	for i := range kills {
		p.waitAcks(t, 300, replicationWait, fmt.Sprintf("before kill %d", i+1))
		leader := st.leader
		// Every other kill finds the leader ahead of its followers.
		resume := func() {}
		if i%2 == 0 {
			resume = pauseFollowersUntilAhead(t, c, topic, leader, i+1)
		}
		c.Node(leader).Kill()
		resume()
		killed := time.Now()
		next := waitNewLeader(t, c, topic, leader)
		elected := time.Since(killed)
		p.waitAcks(t, 100, replicationWait, fmt.Sprintf("under the new leader %d", next.leader))
		acking := time.Since(killed)
		c.Node(leader).Restart()
		st = waitFullISR(t, c, topic, fmt.Sprintf("broker %d back in the ISR", leader))
		t.Logf("kill %d: leader %d killed; leader %d (epoch %d) after %v, acks again within %v, ISR full again after %v; %s",
			i+1, leader, next.leader, next.epoch, elected.Round(time.Millisecond), acking.Round(time.Millisecond),
			time.Since(killed).Round(time.Millisecond), p.summary())
	}
	p.waitAcks(t, 300, replicationWait, "after the last restart")
	checkReplicas(t, c, topic, p.stop(t))
}

// TestFollowerPausedLeavesISR stops a follower with SIGSTOP: after the
// lag time, and before its broker session expires, it leaves the ISR
// while acks=all produces (min.insync.replicas 2) keep succeeding; once
// fenced too, SIGCONT: it rejoins the ISR and its log matches the
// leader's.
func TestFollowerPausedLeavesISR(t *testing.T) {
	const topic = "paused-follower"
	c, st := replicatedCluster(t, topic, 2)
	addrs := c.Addrs()
	p := startAckedProducer(t, addrs, topic, "value")
	p.waitAcks(t, 300, replicationWait, "before the pause")

	paused, resume, shrunk, took := pauseFollower(t, c, topic, st.leader)
	// Fencing (after the 9 s session) would also drop it from the ISR: the
	// lag rule must act first, while the broker is still registered.
	if !slices.Contains(shrunk.brokers, paused) {
		t.Fatalf("broker %d left the ISR only with its fencing, %v after SIGSTOP (lag time %d ms): %s", paused, took, lagTimeMaxMs, shrunk)
	}
	if shrunk.leader != st.leader || len(shrunk.isr) != 2 {
		t.Fatalf("after pausing follower %d: %s, want leader %d and an ISR of 2", paused, shrunk, st.leader)
	}
	t.Logf("paused broker %d left the ISR %v after SIGSTOP: %s", paused, took.Round(time.Millisecond), shrunk)
	p.waitAcks(t, 300, replicationWait, fmt.Sprintf("with broker %d paused", paused))
	// Still stopped when its session expires, it is fenced: to rejoin the
	// ISR it must be unfenced first (KIP-841).
	waitPartition(t, liveAddrs(c, paused), topic, replicationWait, fmt.Sprintf("the paused broker %d fenced", paused),
		func(s partState) bool { return !slices.Contains(s.brokers, paused) })
	p.waitAcks(t, 300, replicationWait, fmt.Sprintf("with broker %d fenced", paused))

	resume()
	resumed := time.Now()
	waitFullISR(t, c, topic, fmt.Sprintf("broker %d back in the ISR after SIGCONT", paused))
	t.Logf("broker %d rejoined the ISR %v after SIGCONT", paused, time.Since(resumed).Round(time.Millisecond))
	p.waitAcks(t, 100, replicationWait, "after the follower rejoined")
	checkReplicas(t, c, topic, p.stop(t))
}

// TestNotEnoughReplicas: with min.insync.replicas 3 and a follower stopped
// until it leaves the ISR, an acks=all produce fails with
// NOT_ENOUGH_REPLICAS and appends nothing; the records acknowledged before
// are all kept, and produces succeed again once the follower is back.
func TestNotEnoughReplicas(t *testing.T) {
	const topic = "min-isr-3"
	c, st := replicatedCluster(t, topic, 3)
	addrs := c.Addrs()
	before := startAckedProducer(t, addrs, topic, "before")
	before.waitAcks(t, 200, replicationWait, "with the full ISR")
	acked := before.stop(t)

	paused, resume, shrunk, _ := pauseFollower(t, c, topic, st.leader)
	const refused = "refused-under-min-isr"
	if code := produceCode(t, c.Node(shrunk.leader).Addr(), topic, refused, -1); code != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all produce with ISR %v under min.insync.replicas 3: error %v, want NOT_ENOUGH_REPLICAS", shrunk.isr, kerr.ErrorForCode(code))
	}

	resume()
	waitFullISR(t, c, topic, fmt.Sprintf("broker %d back in the ISR after SIGCONT", paused))
	after := startAckedProducer(t, addrs, topic, "after")
	after.waitAcks(t, 100, replicationWait, "with the ISR full again")
	acked = append(acked, after.stop(t)...)
	if o, ok := checkReplicas(t, c, topic, acked)[refused]; ok {
		t.Fatalf("the record refused with NOT_ENOUGH_REPLICAS is in the log at offset %d", o)
	}
}

// TestTwoNodesDownNoAcksAll kills both followers of a partition with
// min.insync.replicas 2. The metadata quorum is lost with them, so the ISR
// cannot shrink; an acks=all produce must still not succeed (Kafka
// answers REQUEST_TIMED_OUT: the committed ISR keeps the dead followers,
// whose LEO holds the high watermark). Restarted, the cluster has every
// record acknowledged before.
func TestTwoNodesDownNoAcksAll(t *testing.T) {
	const topic = "two-down"
	c, st := replicatedCluster(t, topic, 2)
	addrs := c.Addrs()
	p := startAckedProducer(t, addrs, topic, "value")
	p.waitAcks(t, 200, replicationWait, "with the full ISR")
	acked := p.stop(t)

	var followers []int32
	for id := int32(1); id <= 3; id++ {
		if id != st.leader {
			followers = append(followers, id)
			c.Node(id).Kill()
		}
	}
	killed := time.Now()
	allowed := []int16{kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code, kerr.RequestTimedOut.Code}
	// Produces for twice the lag time, so that some come after the leader
	// tried to shrink the ISR.
	seen := map[int16]int{}
	for i := 0; i == 0 || time.Since(killed) < 2*lagTimeMaxMs*time.Millisecond; i++ {
		code := produceCode(t, c.Node(st.leader).Addr(), topic, fmt.Sprintf("two-down-%d", i), -1)
		if !slices.Contains(allowed, code) {
			t.Fatalf("acks=all produce %v after killing followers %v: error %v, want NOT_ENOUGH_REPLICAS, NOT_ENOUGH_REPLICAS_AFTER_APPEND or REQUEST_TIMED_OUT",
				time.Since(killed).Round(time.Millisecond), followers, kerr.ErrorForCode(code))
		}
		seen[code]++
	}
	t.Logf("acks=all produces with followers %v dead: error codes %v", followers, seen)

	for _, id := range followers {
		c.Node(id).Restart()
	}
	waitFullISR(t, c, topic, "the restarted followers back in the ISR")
	checkReplicas(t, c, topic, acked)
}

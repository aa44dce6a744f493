package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
)

// fencingWait bounds how long fencing or unfencing may take to show: the
// session timeout (9 s) plus an election and the machine's load.
// controlledShutdownShown bounds how long after a controlled shutdown a
// survivor may still list the broker: below the session timeout less a
// heartbeat interval, so that only the controlled shutdown passes.
const (
	fencingWait             = 40 * time.Second
	controlledShutdownShown = 5 * time.Second
)

// waitMetadata polls addr's Metadata until ok accepts it, or fails the
// test after wait with the last response.
func waitMetadata(t *testing.T, addr string, wait time.Duration, what string, ok func(m *kmsg.MetadataResponse) bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	var last *kmsg.MetadataResponse
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m, err := nodeMetadata(ctx, addr)
		cancel()
		if lastErr = err; err == nil {
			if last = m; ok(m) {
				return
			}
		}
		time.Sleep(100 * time.Millisecond) // a poll interval, not a wait for an event
	}
	t.Fatalf("%s: not after %v; last error %v, last metadata %s", what, wait, lastErr, describeMetadata(last))
}

func describeMetadata(m *kmsg.MetadataResponse) string {
	if m == nil {
		return "none"
	}
	s := "brokers"
	for _, b := range m.Brokers {
		s += fmt.Sprintf(" %d", b.NodeID)
	}
	for _, mt := range m.Topics {
		for _, p := range mt.Partitions {
			s += fmt.Sprintf("; %s/%d leader %d err %d", *mt.Topic, p.Partition, p.Leader, p.ErrorCode)
		}
	}
	return s
}

// leaders returns topic's partition leaders by partition (-1 for a
// partition reported as LEADER_NOT_AVAILABLE).
func leaders(m *kmsg.MetadataResponse, topic string) map[int32]int32 {
	out := map[int32]int32{}
	for _, mt := range m.Topics {
		if mt.Topic == nil || *mt.Topic != topic {
			continue
		}
		for _, p := range mt.Partitions {
			out[p.Partition] = p.Leader
			if p.ErrorCode == kerr.LeaderNotAvailable.Code {
				out[p.Partition] = -1
			}
		}
	}
	return out
}

func brokerIDs(m *kmsg.MetadataResponse) []int32 {
	var ids []int32
	for _, b := range m.Brokers {
		ids = append(ids, b.NodeID)
	}
	slices.Sort(ids)
	return ids
}

// TestClusterFencesDeadBroker kills -9 a node that is not the controller:
// once its session expires, the survivors' Metadata no longer lists it
// and its partitions (replication factor 1) have no leader; restarted, it
// is listed again and leads its partitions again. Stopped with SIGTERM, it
// is fenced before it exits (controlled shutdown), not a session later.
func TestClusterFencesDeadBroker(t *testing.T) {
	c := brokertest.StartCluster(t, 3)
	all := []int32{1, 2, 3}
	addrs := c.Addrs()
	views := waitViews(t, addrs, "three brokers and one controller on every node", agreedController(all, all))
	controller := views[0].controller
	victim := int32(1)
	if victim == controller {
		victim = 2
	}
	survivor := c.Node(6 - controller - victim).Addr()

	const topic = "fenced"
	createTopic(t, newClient(t, addrs[0]), topic, 6)
	var led []int32 // the victim's partitions
	waitMetadata(t, survivor, fencingWait, "the topic with a leader on every partition, some on the victim", func(m *kmsg.MetadataResponse) bool {
		ls := leaders(m, topic)
		led = nil
		for p, l := range ls {
			if l < 0 {
				return false
			}
			if l == victim {
				led = append(led, p)
			}
		}
		return len(ls) == 6 && len(led) > 0
	})
	t.Logf("controller %d; killing broker %d, leader of partitions %v", controller, victim, led)

	c.Node(victim).Kill()
	killed := time.Now()
	others := slices.DeleteFunc(slices.Clone(all), func(id int32) bool { return id == victim })
	waitMetadata(t, survivor, fencingWait, "the dead broker fenced and its partitions leaderless", func(m *kmsg.MetadataResponse) bool {
		ls := leaders(m, topic)
		for _, p := range led {
			if ls[p] != -1 {
				return false
			}
		}
		return slices.Equal(brokerIDs(m), others)
	})
	t.Logf("fenced after %v", time.Since(killed).Round(time.Millisecond))
	// The active controller alone counts the leaderless partitions.
	offline := 0.0
	for _, id := range others {
		offline += scrape(t, c.Node(id).AdminAddr())["riffle_offline_partitions"]
	}
	if offline != float64(len(led)) {
		t.Errorf("riffle_offline_partitions summed over the survivors is %v, want %d", offline, len(led))
	}

	c.Node(victim).Restart()
	waitMetadata(t, survivor, fencingWait, "the restarted broker listed and leading its partitions again", func(m *kmsg.MetadataResponse) bool {
		ls := leaders(m, topic)
		for _, p := range led {
			if ls[p] != victim {
				return false
			}
		}
		return slices.Equal(brokerIDs(m), all)
	})

	c.Node(victim).Stop()
	// The controller committed the fencing before the victim exited: the
	// survivor shows it well before the victim's session could expire.
	waitMetadata(t, survivor, controlledShutdownShown, "the broker stopped with SIGTERM fenced", func(m *kmsg.MetadataResponse) bool {
		return slices.Equal(brokerIDs(m), others)
	})
}

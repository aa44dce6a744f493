package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestFollowerRestartedTruncatedRejoinsCaughtUp: a follower killed with
// kill -9 whose log then loses its tail, as an unflushed page cache does
// on power loss (Riffle's default durability), restarts below the HW. It
// is never in the ISR with less of the log than the leader holds, and it
// rejoins once it has caught up; then the three logs are the same bytes.
// Followers fetch one batch a time, so catching up takes many fetches.
func TestFollowerRestartedTruncatedRejoinsCaughtUp(t *testing.T) {
	const topic = "restarted-truncated"
	c, st := replicatedCluster(t, topic, 2, "--set", "replication.replica_fetch_max_bytes=256")
	p := startAckedProducer(t, c.Addrs(), topic, "value")
	p.waitAcks(t, 20000, replicationWait, "before the kill")
	f := followerNotController(t, c.Node(st.leader).Addr(), st.leader)
	c.Node(f).Kill()
	// The producer stops (its last records acknowledged once the ISR drops
	// the killed follower): the leader's log stays as it is from here.
	acked := p.stop(t)
	waitPartition(t, liveAddrs(c, f), topic, replicationWait, fmt.Sprintf("the killed broker %d out of the ISR", f),
		func(s partState) bool { return !slices.Contains(s.isr, f) })
	dir := filepath.Join(c.Node(f).DataDir(), topic+"-0")
	kept := truncateLog(t, dir)
	_, leaderLog, err := readSegments(filepath.Join(c.Node(st.leader).DataDir(), topic+"-0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("broker %d killed; its log cut to %d of the leader's %d bytes (%d records acknowledged)", f, kept, len(leaderLog), len(acked))

	// Watched from before the restart: it catches up within its start-up.
	restarted := time.Now()
	watched := make(chan error, 1)
	behind := 0 // polls that saw it out of the ISR and behind
	go func() { watched <- watchRejoin(c.Node(st.leader).Addr(), topic, f, dir, len(leaderLog), &behind) }()
	c.Node(f).Restart()
	if err := <-watched; err != nil {
		t.Fatal(err)
	}
	t.Logf("broker %d rejoined the ISR %v after its restart began, seen behind and out of it %d times",
		f, time.Since(restarted).Round(time.Millisecond), behind)
	checkReplicas(t, c, topic, acked)
}

// watchRejoin polls leaderAddr's ISR of topic's partition 0 and broker f's
// log in dir until f is in the ISR, and fails if it is in it with less
// than want bytes of log; behind counts the polls that found it out of the
// ISR and behind. The ISR is read first, then the log: a log seen short
// after the ISR named f was short when it was in the ISR too (it only
// grows).
func watchRejoin(leaderAddr, topic string, f int32, dir string, want int, behind *int) error {
	deadline := time.Now().Add(replicationWait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := partitionState(ctx, leaderAddr, topic)
		cancel()
		if err != nil {
			return err
		}
		_, data, err := readSegments(dir)
		if err != nil {
			return err
		}
		in := slices.Contains(s.isr, f)
		switch {
		case in && len(data) < want:
			return fmt.Errorf("broker %d is in the ISR (%s) with %d of the leader's %d log bytes", f, s, len(data), want)
		case in:
			return nil
		case len(data) < want:
			*behind++
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("broker %d not back in the ISR after %v: %s; %d of %d log bytes", f, replicationWait, s, len(data), want)
		}
		time.Sleep(10 * time.Millisecond) // a poll interval, not a wait for an event
	}
}

// truncateLog cuts the last segment of a stopped broker's partition
// directory to half its size, mid-batch as likely as not, and removes the
// recovery-point checkpoint beside it so that recovery rescans the whole
// log, as after losing data no fsync covered. It returns the log's bytes
// left.
func truncateLog(t *testing.T, dir string) int {
	t.Helper()
	names, data, err := readSegments(dir)
	if err != nil || len(names) == 0 {
		t.Fatalf("segments of %s: %v, %v", dir, names, err)
	}
	last := filepath.Join(dir, names[len(names)-1])
	info, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(last, info.Size()/2); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(filepath.Dir(dir), "recovery-point-offset-checkpoint")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(data) - int(info.Size()-info.Size()/2)
}

package e2e

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
	"github.com/riffle/riffle/internal/kafkatest"
	"github.com/riffle/riffle/kafkawire"
)

// TestDeposedCoordinatorServesNoStaleOffsets: a group coordinator paused
// (SIGSTOP) past its broker session is fenced and replaced, and the group
// commits a newer offset to its successor. An OffsetFetch that waits in
// the paused coordinator's socket is read the moment it resumes, before it
// can have heard of its successor: it must not answer the old offset from
// memory (the chaos tool's rewound commits), only NOT_COORDINATOR or the
// new offset.
func TestDeposedCoordinatorServesNoStaleOffsets(t *testing.T) {
	c := brokertest.StartCluster(t, 3)
	cl := newClusterClient(t, c.Addrs())
	const topic, group = "leased", "leased-group"
	createReplicatedTopic(t, cl, topic, 1, 3, nil)
	waitOffsetsTopicReplicas(t, cl, 3)
	commitOffsetThroughFailover(t, kadm.NewClient(cl), group, topic, 10)
	old := findCoordinator(t, cl, group)

	conn := dial(t, c.Node(old).Addr())
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.SetVersion(7)
	fetch.Group = group
	fetch.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: topic, Partitions: []int32{0}}}
	// The acknowledged commit reads back from the coordinator (a group
	// deleted by the retention check while its first commit was being
	// appended once answered -1 here).
	corr := int32(1)
	sendOffsetFetch(t, conn, fetch, corr)
	if got := offsetFetched(t, conn, fetch, corr); got != 10 {
		t.Fatalf("before the pause the coordinator %d answers offset %d, want 10", old, got)
	}

	resume := pauseBroker(t, c, old)
	paused := time.Now()
	survivors := newClusterClient(t, liveAddrs(c, old))
	deadline := time.Now().Add(groupFailoverWait)
	for {
		now, err := tryFindCoordinator(survivors, 0, group)
		if err == nil && now != old {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s still not coordinated by another node than the paused %d after %v: %v", group, old, groupFailoverWait, err)
		}
		time.Sleep(250 * time.Millisecond) // a poll interval, not a wait for an event
	}
	commitOffsetThroughFailover(t, kadm.NewClient(survivors), group, topic, 20)
	t.Logf("coordinator %d paused; offset 20 committed to its successor %v later", old, time.Since(paused).Round(time.Millisecond))

	corr++
	sendOffsetFetch(t, conn, fetch, corr)
	resume()
	got := offsetFetched(t, conn, fetch, corr)
	if got == 10 {
		t.Fatalf("the deposed coordinator %d answered the replaced offset 10 after SIGCONT", old)
	}
	t.Logf("the deposed coordinator answered %d after SIGCONT (-2: NOT_COORDINATOR)", got)
}

// commitOffsetThroughFailover commits offset for topic's partition 0 in group, retrying
// while the coordinator moves.
func commitOffsetThroughFailover(t *testing.T, adm *kadm.Client, group, topic string, offset int64) {
	t.Helper()
	deadline := time.Now().Add(groupFailoverWait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: topic, Partition: 0, At: offset, LeaderEpoch: -1})
		resp, err := adm.CommitOffsets(ctx, group, os)
		cancel()
		if err == nil && resp.Error() == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("commit offset %d for %s: %v %v", offset, group, err, resp.Error())
		}
		time.Sleep(250 * time.Millisecond) // a poll interval, not a wait for an event
	}
}

// offsetFetched reads the answer to the OffsetFetch req sent on conn
// with correlation id corr and returns the committed offset of its one
// partition, or -2 for NOT_COORDINATOR; another error fails the test.
func offsetFetched(t *testing.T, conn net.Conn, req *kmsg.OffsetFetchRequest, corr int32) int64 {
	t.Helper()
	if err := conn.SetDeadline(time.Now().Add(groupFailoverWait)); err != nil {
		t.Fatal(err)
	}
	raw, err := kafkatest.ReadFrame(conn)
	if err != nil {
		t.Fatalf("OffsetFetch: %v", err)
	}
	decoded, err := kafkawire.DecodeResponse(req, corr, raw)
	if err != nil {
		t.Fatal(err)
	}
	resp := decoded.(*kmsg.OffsetFetchResponse)
	switch {
	case resp.ErrorCode == kerr.NotCoordinator.Code:
		return -2
	case resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1:
		t.Fatalf("OffsetFetch: %+v", resp)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("OffsetFetch partition: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	return p.Offset
}

// sendOffsetFetch writes req on conn with correlation id corr.
func sendOffsetFetch(t *testing.T, conn net.Conn, req *kmsg.OffsetFetchRequest, corr int32) {
	t.Helper()
	if _, err := conn.Write(kafkatest.Sized(kafkatest.Frame(req, corr))); err != nil {
		t.Fatal(err)
	}
}

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
)

// TestTransactionSurvivesCoordinatorKill: on a three-node cluster, kill -9
// of a transaction's coordinator while its commit is under way. The new
// coordinator either finishes the commit (the decision was stored) or the
// transaction stays open there until its timeout aborts it; either way,
// once every partition's LSO is back at its high watermark, a
// read_committed reader sees all of the transaction's records or none.
// Killed just after the commit was acknowledged (the markers may not be
// written yet), the transaction must end committed; so must it when the
// broker killed during the commit is a partition's leader (not the
// coordinator): the markers go to the new leader.
func TestTransactionSurvivesCoordinatorKill(t *testing.T) {
	for _, tc := range []struct {
		name             string
		afterAck, leader bool
	}{{"coordinator", false, false}, {"coordinator_after_ack", true, false}, {"partition_leader", false, true}} {
		t.Run(tc.name, func(t *testing.T) { testTxnKill(t, tc.afterAck, tc.leader) })
	}
}

func testTxnKill(t *testing.T, afterAck, killLeader bool) {
	c := brokertest.StartCluster(t, 3, "--set", "transactions.state_topic_partitions=3")
	cl := newClusterClient(t, c.Addrs())
	const topic, records = "txn-kill", 90
	createReplicatedTopic(t, cl, topic, 3, 3, map[string]string{"min.insync.replicas": "2"})

	// A killed coordinator's open transaction ends by its timeout; a
	// partition leader's death holds the coordinator's appends until the
	// controller fences it (9 s) and takes it out of the ISRs, which the
	// transaction must outlive.
	timeout := 10 * time.Second
	if killLeader {
		timeout = 60 * time.Second
	}
	// The client's own log, shown when the test fails: its retries and
	// coordinator lookups are what a failed commit needs explained.
	p := newClusterClient(t, c.Addrs(), kgo.WithLogger(testLogger(t, kgo.LogLevelDebug, "")), kgo.TransactionalID("kill-txn"), kgo.TransactionTimeout(timeout),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range records {
		p.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(i % 3), Value: fmt.Appendf(nil, "kill-%d", i)}, nil)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	coord := findTxnCoordinator(t, cl, "kill-txn")
	victim := coord
	if killLeader {
		victim = txnLeaderOtherThan(t, c.Addrs()[0], topic, coord)
		afterAck = false
	}
	ended := make(chan error, 1)
	go func() { ended <- p.EndTransaction(ctx, kgo.TryCommit) }()
	var endErr error
	if afterAck {
		if endErr = <-ended; endErr != nil {
			t.Fatalf("commit: %v", endErr)
		}
	}
	c.Node(victim).Kill()
	if !afterAck {
		endErr = <-ended
	}
	t.Logf("killed node %d, coordinator %d (after the acknowledgement: %v); the client's commit: %v", victim, coord, afterAck, endErr)
	if killLeader && endErr != nil {
		t.Fatalf("commit with the coordinator alive: %v", endErr)
	}
	mustCommit := afterAck || killLeader

	survivors := liveAddrs(c, victim)
	reader := newClusterClient(t, survivors)
	adm := kadm.NewClient(reader)
	deadline := time.Now().Add(groupFailoverWait + 30*time.Second)
	for {
		lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
		stable, serr := adm.ListCommittedOffsets(lctx, topic)
		ends, eerr := adm.ListEndOffsets(lctx, topic)
		lcancel()
		settled := serr == nil && eerr == nil && stable.Error() == nil && ends.Error() == nil
		for i := range int32(3) {
			s, ok1 := stable.Lookup(topic, i)
			e, ok2 := ends.Lookup(topic, i)
			settled = settled && ok1 && ok2 && s.Offset == e.Offset && e.Offset > 0
		}
		if settled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the transaction neither committed nor aborted after the kill: LSOs %v, ends %v (%v %v)", stable, ends, serr, eerr)
		}
		time.Sleep(250 * time.Millisecond) // a poll interval, not a wait for an event
	}
	got := consumeValues(t, survivors[0], topic, true, 0, 3*time.Second)
	switch n := len(got); {
	case n == records:
		t.Logf("the transaction committed as a whole")
	case n == 0 && !mustCommit:
		t.Logf("the transaction aborted as a whole")
	default:
		t.Fatalf("read_committed sees %d of the transaction's %d records (commit acknowledged: %v)", n, records, mustCommit)
	}
}

// txnLeaderOtherThan is the leader of one of topic's partitions that is
// not node not.
func txnLeaderOtherThan(t *testing.T, addr, topic string, not int32) int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := nodeMetadata(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, mt := range m.Topics {
		for _, p := range mt.Partitions {
			if mt.Topic != nil && *mt.Topic == topic && p.Leader >= 0 && p.Leader != not {
				return p.Leader
			}
		}
	}
	t.Fatalf("every partition of %s is led by %d", topic, not)
	return -1
}

// findTxnCoordinator is the broker coordinating a transactional id.
func findTxnCoordinator(t *testing.T, cl *kgo.Client, id string) int32 {
	t.Helper()
	return findCoordinatorOfType(t, cl, 1, id)
}

// findCoordinatorOfType is the coordinator of a group (key type 0) or a
// transactional id (1).
func findCoordinatorOfType(t *testing.T, cl *kgo.Client, keyType int8, key string) int32 {
	t.Helper()
	id, err := tryFindCoordinator(cl, keyType, key)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// tryFindCoordinator is findCoordinatorOfType's error-returning twin, for
// polls through a failover.
func tryFindCoordinator(cl *kgo.Client, keyType int8, key string) (int32, error) {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorType, req.CoordinatorKey, req.CoordinatorKeys = keyType, key, []string{key} // v0-3, v4+
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err == nil && len(resp.Coordinators) == 1 {
		resp.ErrorCode, resp.NodeID = resp.Coordinators[0].ErrorCode, resp.Coordinators[0].NodeID
	}
	if err == nil && resp.ErrorCode != 0 {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		return -1, fmt.Errorf("find the coordinator of %s: %w", key, err)
	}
	return resp.NodeID, nil
}

// testLogger is a franz-go logger writing to the test's log at level, each
// line prefixed; it falls silent once the test's cleanups run, so a client
// goroutine that logs late cannot panic the test binary.
func testLogger(t *testing.T, level kgo.LogLevel, prefix string) kgo.Logger {
	w := &testLogWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return kgo.BasicLogger(w, level, func() string { return prefix })
}

type testLogWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

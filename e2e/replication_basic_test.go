package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
	"github.com/riffle/riffle/internal/kafkatest"
)

// replicationWait bounds how long replicas may take to converge, or a
// leader to move after a kill (the 9 s session timeout plus an election):
// generous, three brokers share two loaded cores.
const replicationWait = 90 * time.Second

// TestReplicationBasic: on three brokers, a topic with replication factor
// 3 and min.insync.replicas 2 takes acks=all produces, and every replica's
// log ends up byte for byte the leader's; the records read back in order.
// After the leader is killed (kill -9) another replica leads and takes
// more produces; the old leader, restarted, follows it, catches up to the
// same bytes and is back in the ISR.
func TestReplicationBasic(t *testing.T) {
	c := brokertest.StartCluster(t, 3, "--set", "replication.replica_fetch_backoff_ms=100")
	const topic = "replicated"
	admin := newClient(t, c.Addrs()[0])
	createReplicatedTopic(t, admin, topic, 1, 3, map[string]string{"min.insync.replicas": "2"})

	produceRange(t, c.Addrs(), topic, 0, 500)
	dirs := []string{c.Node(1).DataDir(), c.Node(2).DataDir(), c.Node(3).DataDir()}
	size := waitSameLog(t, dirs, topic, "all replicas after 500 records")
	consumeRange(t, c.Addrs(), topic, 500)

	old := partitionLeader(t, c.Addrs()[0], topic, -1)
	for id := int32(1); id <= 3; id++ {
		m := scrape(t, c.Node(id).AdminAddr())
		if id == old {
			expect(t, m, "riffle_under_replicated_partitions", 0)
			continue
		}
		expect(t, m, `riffle_partition_follower_lag_offsets{topic="`+topic+`",partition="0"}`, 0)
		if got := m["riffle_replica_fetch_bytes_total"]; got < float64(size) {
			t.Errorf("follower %d fetched %v bytes, the log holds %d", id, got, size)
		}
	}
	c.Node(old).Kill()
	var survivors []string
	for id := int32(1); id <= 3; id++ {
		if id != old {
			survivors = append(survivors, c.Node(id).Addr())
		}
	}
	leader := partitionLeader(t, survivors[0], topic, old)
	produceRange(t, survivors, topic, 500, 800)
	if m := scrape(t, c.Node(leader).AdminAddr()); m["riffle_under_replicated_partitions"] < 1 {
		t.Errorf("new leader %d: %v under-replicated partitions with broker %d down", leader, m["riffle_under_replicated_partitions"], old)
	}

	c.Node(old).Restart()
	waitSameLog(t, dirs, topic, fmt.Sprintf("all replicas after broker %d, the old leader, restarted", old))
	consumeRange(t, c.Addrs(), topic, 800)
	waitMetadata(t, survivors[0], replicationWait, fmt.Sprintf("broker %d back in the ISR", old), func(m *kmsg.MetadataResponse) bool {
		return len(partitionISR(m, topic)) == 3
	})
	waitFor(t, replicationWait, "the new leader's ISR expanded", func() bool {
		return scrape(t, c.Node(leader).AdminAddr())["riffle_isr_expands_total"] >= 1
	})
}

// partitionISR is topic's partition 0 ISR in m.
func partitionISR(m *kmsg.MetadataResponse, topic string) []int32 {
	for _, mt := range m.Topics {
		if mt.Topic != nil && *mt.Topic == topic && len(mt.Partitions) > 0 {
			return mt.Partitions[0].ISR
		}
	}
	return nil
}

// produceRange produces records [from, to) of testRecord to partition 0
// with acks=all and idempotence, each acknowledged at its own offset
// within replicationWait.
func produceRange(t *testing.T, seeds []string, topic string, from, to int) {
	t.Helper()
	cl := newClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var records []*kgo.Record
	for i := from; i < to; i++ {
		r := testRecord(topic, i, time.Time{})
		r.Partition = 0
		records = append(records, r)
	}
	offsets, err := kafkatest.ProduceWithin(cl, replicationWait, records)
	if err != nil {
		t.Fatalf("records %d..%d: %v", from, to-1, err)
	}
	for i, off := range offsets {
		if off != int64(from+i) {
			t.Fatalf("record %d acknowledged at offset %d", from+i, off)
		}
	}
}

// consumeRange reads partition 0 from the start and checks it holds
// exactly records [0, n) of testRecord, in order.
func consumeRange(t *testing.T, seeds []string, topic string, n int) {
	t.Helper()
	cl := newClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().AtStart()}}))
	ctx, cancel := context.WithTimeout(context.Background(), replicationWait)
	defer cancel()
	for i := 0; i < n; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", i, n, err)
		}
		for _, e := range fs.Errors() {
			t.Logf("fetch error (retried): %v", e.Err)
		}
		for _, r := range fs.Records() {
			if i == n {
				t.Fatalf("more than %d records: offset %d", n, r.Offset)
			}
			want := testRecord(topic, i, time.Time{})
			if r.Offset != int64(i) || !bytes.Equal(r.Key, want.Key) || !bytes.Equal(r.Value, want.Value) {
				t.Fatalf("offset %d: record key %q, want record %d (%q)", r.Offset, r.Key, i, want.Key)
			}
			i++
		}
	}
}

// partitionLeader waits until addr's metadata names a leader of topic's
// partition 0 other than not (and -1), and returns it.
func partitionLeader(t *testing.T, addr, topic string, not int32) int32 {
	t.Helper()
	var leader int32
	waitMetadata(t, addr, replicationWait, fmt.Sprintf("a leader of %s other than %d", topic, not), func(m *kmsg.MetadataResponse) bool {
		l, ok := leaders(m, topic)[0]
		leader = l
		return ok && l >= 0 && l != not
	})
	return leader
}

// waitSameLog waits until the partition's segment files in every data dir
// hold the same bytes, not none, and returns their size.
func waitSameLog(t *testing.T, dataDirs []string, topic, what string) int {
	t.Helper()
	deadline := time.Now().Add(replicationWait)
	var last []string
	for {
		logs := make([][]byte, len(dataDirs))
		last = last[:0]
		for i, dir := range dataDirs {
			names, data, err := readSegments(filepath.Join(dir, topic+"-0"))
			if err != nil {
				t.Fatal(err)
			}
			logs[i] = data
			last = append(last, fmt.Sprintf("%s: %v, %d bytes", dir, names, len(data)))
		}
		same := len(logs[0]) > 0
		for _, l := range logs[1:] {
			same = same && bytes.Equal(l, logs[0])
		}
		if same {
			return len(logs[0])
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: logs differ after %v:\n%s", what, replicationWait, strings.Join(last, "\n"))
		}
		time.Sleep(100 * time.Millisecond) // a poll interval, not a wait for an event
	}
}

// readSegments returns a partition directory's segment file names, sorted,
// and their bytes concatenated: replicas roll segments on their own, so
// only the concatenation must match.
func readSegments(dir string) ([]string, []byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return nil, nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".log") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	var data []byte
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !os.IsNotExist(err) { // a segment deleted meanwhile
			return nil, nil, err
		}
		data = append(data, b...)
	}
	return names, data, nil
}

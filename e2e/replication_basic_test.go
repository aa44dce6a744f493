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

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
)

// replicationWait bounds how long replicas may take to converge, or a
// leader to move after a kill (the 9 s session timeout plus an election):
// generous, three brokers share two loaded cores.
const replicationWait = 90 * time.Second

// TestReplicationBasic: on three brokers, a topic with replication factor
// 3 and min.insync.replicas 2 takes acks=all produces, and every replica's
// log ends up byte for byte the leader's; the records read back in order.
// After the leader is killed (kill -9) another replica leads and takes
// more produces; the old leader, restarted, follows it and catches up to
// the same bytes.
func TestReplicationBasic(t *testing.T) {
	c := brokertest.StartCluster(t, 3, "--set", "replication.replica_fetch_backoff_ms=100")
	const topic = "replicated"
	admin := newClient(t, c.Addrs()[0])
	createReplicatedTopic(t, admin, topic, 3, map[string]string{"min.insync.replicas": "2"})
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)

	produceRange(t, c.Addrs(), topic, base, 0, 500)
	dirs := []string{c.Node(1).DataDir(), c.Node(2).DataDir(), c.Node(3).DataDir()}
	waitSameLog(t, dirs, topic, "all replicas after 500 records")
	consumeRange(t, c.Addrs(), topic, base, 500)

	old := partitionLeader(t, c.Addrs()[0], topic, -1)
	c.Node(old).Kill()
	var survivors []string
	for id := int32(1); id <= 3; id++ {
		if id != old {
			survivors = append(survivors, c.Node(id).Addr())
		}
	}
	partitionLeader(t, survivors[0], topic, old)
	produceRange(t, survivors, topic, base, 500, 800)

	c.Node(old).Restart()
	waitSameLog(t, dirs, topic, fmt.Sprintf("all replicas after broker %d, the old leader, restarted", old))
	consumeRange(t, c.Addrs(), topic, base, 800)
}

// createReplicatedTopic creates a one-partition topic with replication
// factor rf and configs.
func createReplicatedTopic(t *testing.T, cl *kgo.Client, topic string, rf int16, configs map[string]string) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 1, rf
	for k, v := range configs {
		rc := kmsg.NewCreateTopicsRequestTopicConfig()
		rc.Name, rc.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, rc)
	}
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 30_000
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// produceRange produces records [from, to) of testRecord to partition 0
// with acks=all and idempotence, each acknowledged at its own offset.
func produceRange(t *testing.T, seeds []string, topic string, base time.Time, from, to int) {
	t.Helper()
	cl := newClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProduceRequestTimeout(20*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), replicationWait)
	defer cancel()
	for i := from; i < to; i++ {
		r := testRecord(topic, i, base)
		r.Partition = 0
		res := cl.ProduceSync(ctx, r)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if got := res[0].Record.Offset; got != int64(i) {
			t.Fatalf("record %d acknowledged at offset %d", i, got)
		}
	}
}

// consumeRange reads partition 0 from the start and checks it holds
// exactly records [0, n) of testRecord, in order.
func consumeRange(t *testing.T, seeds []string, topic string, base time.Time, n int) {
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
			want := testRecord(topic, i, base)
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
// are the same files with the same bytes, not empty.
func waitSameLog(t *testing.T, dataDirs []string, topic, what string) {
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
			return
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

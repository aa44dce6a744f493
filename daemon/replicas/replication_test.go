package replicas_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/daemon/kafka"
	"github.com/riffle/riffle/daemon/replicas"
	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/internal/kafkatest"
	"github.com/riffle/riffle/netio"
	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/segment"
)

// pairWait bounds how long replication may take to converge in-process.
const pairWait = 30 * time.Second

// pairNode is one broker of a two-broker cluster in one process: its own
// data dir, replica manager, Kafka layer and listener; the metadata is one
// controller both read.
type pairNode struct {
	id     ids.NodeID
	dd     *segment.DataDir
	srv    *netio.Server
	m      *replicas.Manager
	broker atomic.Pointer[kafka.Broker]
}

func (n *pairNode) ServeFrame(ctx context.Context, c *netio.Conn, frame []byte) ([]netio.Piece, error) {
	b := n.broker.Load()
	if b == nil {
		return nil, fmt.Errorf("node %d not started", n.id)
	}
	return b.ServeFrame(ctx, c, frame)
}

func (n *pairNode) port(t *testing.T) int32 {
	_, p, err := net.SplitHostPort(n.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return int32(port)
}

// startPair starts brokers 1 and 2, each fetching as a follower from the
// other's listener.
func startPair(t *testing.T) (*quorum.Controller, [2]*pairNode) {
	return startPairISR(t, func(c *quorum.Controller) replicas.ISRClient { return c })
}

// startPairISR is startPair with broker 1's ISR proposals sent through
// isr(controller).
func startPairISR(t *testing.T, isr func(*quorum.Controller) replicas.ISRClient) (*quorum.Controller, [2]*pairNode) {
	t.Helper()
	var nodes [2]*pairNode
	for i := range nodes {
		n := &pairNode{id: ids.NodeID(i + 1), dd: openDataDir(t)}
		var err error
		if n.srv, err = netio.Listen(netio.Config{Addr: "127.0.0.1:0", Logger: quiet}, n); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.srv.Shutdown(context.Background()) })
		nodes[i] = n
	}
	ctrl := openController(t, nodes[0].dd, nodes[0].port(t), nodes[1].port(t))
	for _, n := range nodes {
		var client replicas.ISRClient = ctrl
		if n.id == 1 {
			client = isr(ctrl)
		}
		n.m = newManager(t, ctrl, client, n.dd, n.id)
		n.broker.Store(kafka.New(kafka.Config{NodeID: int32(n.id), FetchWaitMsMax: 30_000, Logger: quiet}, ctrl, n.m))
	}
	return ctrl, nodes
}

var quiet = slog.New(slog.DiscardHandler)

func openDataDir(t *testing.T) *segment.DataDir {
	t.Helper()
	segCfg := segment.DefaultConfig()
	dd, err := segment.OpenDataDir(t.TempDir(), func(string) segment.Config { return segCfg }, segment.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dd.Close() })
	return dd
}

// openController opens a one-voter controller on dd whose brokers 1 and 2
// listen on 127.0.0.1 at port1 and port2.
func openController(t *testing.T, dd *segment.DataDir, port1, port2 int32) *quorum.Controller {
	t.Helper()
	mlog, err := dd.CreateLog(quorum.MetadataTopic, 0, quorum.MetadataLogConfig(segment.DefaultConfig()))
	if err != nil {
		t.Fatal(err)
	}
	ctrl, err := quorum.Open(mlog, quorum.Options{NodeID: 1, ValidateTopicConfig: quorum.ValidateTopicConfig,
		Broker: quorum.Broker{ID: 1, Host: "127.0.0.1", Port: port1}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctrl.Close() })
	if err := ctrl.RegisterBroker(quorum.Broker{ID: 2, Host: "127.0.0.1", Port: port2}); err != nil {
		t.Fatal(err)
	}
	return ctrl
}

// newManager is node id's replica manager, fetching with short waits and
// backoffs and frequent HW checkpoints, sending its ISR proposals to isr.
func newManager(t *testing.T, ctrl *quorum.Controller, isr replicas.ISRClient, dd *segment.DataDir, id ids.NodeID) *replicas.Manager {
	m := replicas.New(replicas.Options{
		DataDir: dd, NodeID: id, Metadata: ctrl, ISR: isr, Logger: quiet,
		TopicConfig: func(im *quorum.Image, t *quorum.Topic) (replicas.TopicConfig, error) {
			sc, err := quorum.Defaults{Cluster: im.ClusterConfigs}.SegmentConfig(t.Configs)
			if err != nil {
				return replicas.TopicConfig{}, err
			}
			minISR, err := strconv.Atoi(cmp.Or(t.Configs["min.insync.replicas"], "1"))
			return replicas.TopicConfig{Log: sc, MinISR: minISR, LagTimeMax: 30 * time.Second}, err
		},
		Fetch: replicas.FetchConfig{WaitMax: 100 * time.Millisecond, PartitionBytesMax: 1 << 20,
			ResponseBytesMax: 10 << 20, Backoff: 50 * time.Millisecond, FrameBytesMax: 20 << 20},
		HWCheckpointInterval: 10 * time.Millisecond,
	})
	t.Cleanup(func() { m.Close() })
	return m
}

// logBytes is a partition's segment files on a node, concatenated.
func logBytes(t *testing.T, n *pairNode, topic string, partition int32) []byte {
	t.Helper()
	l := n.dd.Log(topic, partition)
	if l == nil {
		return nil
	}
	var out []byte
	err := l.ScanBatches(l.LogStartOffset(), func(h segment.BatchHeader) error {
		out = fmt.Appendf(out, "%d/%d/%d/%d;", h.BaseOffset, h.LastOffsetDelta, h.PartitionLeaderEpoch, h.CRC)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPairReplicates: with replication factor 2 and min.insync.replicas 2,
// acks=all produces to both partitions (whatever node leads each) are
// acknowledged only through the other node's fetcher, both logs end with
// the same batches, the follower's HW follows the leader's, and the
// metrics show it. Deleting the topic stops the fetching.
func TestPairReplicates(t *testing.T) {
	ctrl, nodes := startPair(t)
	top, err := ctrl.CreateTopic(quorum.CreateTopic{Name: "t", Partitions: 2, ReplicationFactor: 2,
		Configs: map[string]string{"min.insync.replicas": "2"}}, 1, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(nodes[0].srv.Addr().String()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic("t"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 200
	var records []*kgo.Record
	for i := range n {
		records = append(records, &kgo.Record{Partition: int32(i % 2), Value: []byte(strconv.Itoa(i))})
	}
	if _, err := kafkatest.ProduceWithin(cl, pairWait, records); err != nil {
		t.Fatal(err)
	}
	for _, mp := range top.Partitions {
		leader, follower := nodes[mp.Leader-1], nodes[2-mp.Leader]
		deadline := time.Now().Add(pairWait)
		for {
			lp, fp := leader.m.Partition("t", mp.ID), follower.m.Partition("t", mp.ID)
			want, got := logBytes(t, leader, "t", mp.ID), logBytes(t, follower, "t", mp.ID)
			if lp.HighWatermark() == n/2 && fp.HighWatermark() == n/2 && bytes.Equal(got, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("partition %d: leader %d HW %d, follower HW %d; batches\n%s\n%s", mp.ID, mp.Leader,
					lp.HighWatermark(), fp.HighWatermark(), want, got)
			}
			time.Sleep(10 * time.Millisecond) // a poll interval, not a wait for an event
		}
	}
	for _, node := range nodes {
		text := metricsText(node.m)
		follows := 0
		for _, mp := range top.Partitions {
			if ids.NodeID(mp.Leader) != node.id {
				follows++
				lag := fmt.Sprintf(`riffle_partition_follower_lag_offsets{topic="t",partition="%d"} 0`, mp.ID)
				if !strings.Contains(text, lag) {
					t.Errorf("node %d: no %q in\n%s", node.id, lag, text)
				}
			}
		}
		if fetched := strings.Contains(text, "riffle_replica_fetch_bytes_total 0\n"); fetched == (follows > 0) {
			t.Errorf("node %d follows %d partitions; metrics\n%s", node.id, follows, text)
		}
		if !strings.Contains(text, "riffle_under_replicated_partitions 0\n") {
			t.Errorf("node %d: under-replicated partitions in\n%s", node.id, text)
		}
	}

	if err := ctrl.DeleteTopic("t"); err != nil {
		t.Fatal(err)
	}
	for _, node := range nodes {
		if text := metricsText(node.m); strings.Contains(text, "follower_lag") {
			t.Errorf("node %d: deleted partitions still followed:\n%s", node.id, text)
		}
	}
}

func metricsText(m *replicas.Manager) string {
	var b strings.Builder
	m.WriteMetrics(&b)
	return b.String()
}

// TestHWCheckpointRestart: the leader's Tick checkpoints its HW, and a
// leader reopened while its follower is away starts at it: with
// min.insync.replicas 2 nothing else could move its HW above the log
// start until the follower fetched.
func TestHWCheckpointRestart(t *testing.T) {
	ctrl, nodes := startPair(t)
	top, err := ctrl.CreateTopic(quorum.CreateTopic{Name: "t", Partitions: 1, ReplicationFactor: 2,
		Configs: map[string]string{"min.insync.replicas": "2"}}, 1, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	leader, follower := nodes[top.Partitions[0].Leader-1], nodes[2-top.Partitions[0].Leader]
	cl, err := kgo.NewClient(kgo.SeedBrokers(leader.srv.Addr().String()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 20
	var records []*kgo.Record
	for i := range n {
		records = append(records, &kgo.Record{Value: []byte(strconv.Itoa(i))})
	}
	if _, err := kafkatest.ProduceWithin(cl, pairWait, records); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(pairWait)
	for {
		leader.m.Tick()
		if hw, ok := leader.dd.HighWatermark("t", 0); ok && hw == n {
			break
		}
		if time.Now().After(deadline) {
			hw, ok := leader.dd.HighWatermark("t", 0)
			t.Fatalf("checkpointed HW %d (%v), want %d", hw, ok, n)
		}
		time.Sleep(20 * time.Millisecond) // past HWCheckpointInterval
	}
	for _, node := range []*pairNode{follower, leader} {
		if err := node.m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	m := newManager(t, ctrl, ctrl, leader.dd, leader.id)
	if hw := m.Partition("t", 0).HighWatermark(); hw != n {
		t.Fatalf("reopened leader's HW %d, want the checkpointed %d", hw, n)
	}
}

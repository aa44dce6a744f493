package replicas_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/kafkawire"
	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/segment"
)

// scriptWait bounds each step of a scripted exchange.
const scriptWait = 10 * time.Second

// fakeLeader is broker 1 played by the test: each request a follower sends
// it comes out of requests, and the test answers it through answers.
type fakeLeader struct {
	ln       net.Listener
	requests chan kmsg.Request
	answers  chan kmsg.Response
	done     chan struct{}
}

func startFakeLeader(t *testing.T) *fakeLeader {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeLeader{ln: ln, requests: make(chan kmsg.Request), answers: make(chan kmsg.Response), done: make(chan struct{})}
	t.Cleanup(func() {
		close(f.done)
		ln.Close()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeLeader) port() int32 { return int32(f.ln.Addr().(*net.TCPAddr).Port) }

// serve hands each request on c to the test and writes its answer.
func (f *fakeLeader) serve(c net.Conn) {
	defer c.Close()
	var frame bytes.Buffer
	for {
		if err := kafkawire.ReadFrame(c, &frame, 1<<20); err != nil {
			return
		}
		h, rest, err := kafkawire.ParseRequestHeaderPrefix(frame.Bytes())
		if err != nil {
			return
		}
		req, err := kafkawire.DecodeRequestBody(h, rest)
		if err != nil {
			return
		}
		var resp kmsg.Response
		select {
		case f.requests <- req:
		case <-f.done:
			return
		}
		select {
		case resp = <-f.answers:
		case <-f.done:
			return
		}
		resp.SetVersion(h.APIVersion)
		out := kafkawire.AppendResponseHeader(make([]byte, 4), h, resp.IsFlexible())
		out = resp.AppendTo(out)
		binary.BigEndian.PutUint32(out, uint32(len(out)-4))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// next is the follower's next request, which must be of type R.
func next[R kmsg.Request](t *testing.T, f *fakeLeader) R {
	t.Helper()
	select {
	case req := <-f.requests:
		r, ok := req.(R)
		if !ok {
			t.Fatalf("follower sent %s, want %T", kmsg.NameForKey(req.Key()), r)
		}
		return r
	case <-time.After(scriptWait):
		var r R
		t.Fatalf("no %T from the follower in %v", r, scriptWait)
		return r
	}
}

// fetchAt checks that the follower's next request is a replica Fetch v15
// from broker 2 at its registered broker epoch (KIP-903), of the topic with
// id topic's partition at offset with last fetched epoch lastEpoch.
func fetchAt(t *testing.T, f *fakeLeader, ctrl *quorum.Controller, topic [16]byte, partition int32, epoch ids.Epoch, offset int64, lastEpoch int32) {
	t.Helper()
	req := next[*kmsg.FetchRequest](t, f)
	self, _ := ctrl.Image().Broker(2)
	if req.Version != 15 || req.ReplicaState.ID != 2 || req.ReplicaState.Epoch != self.Epoch || req.SessionEpoch != -1 ||
		len(req.Topics) != 1 || len(req.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch v%d replica %d broker epoch %d (registered %d) session epoch %d, %d topics: %+v", req.Version,
			req.ReplicaState.ID, req.ReplicaState.Epoch, self.Epoch, req.SessionEpoch, len(req.Topics), req.Topics)
	}
	rp := req.Topics[0].Partitions[0]
	if req.Topics[0].TopicID != topic || rp.Partition != partition || rp.CurrentLeaderEpoch != int32(epoch) ||
		rp.FetchOffset != offset || rp.LastFetchedEpoch != lastEpoch {
		t.Fatalf("fetch of %x-%d epoch %d offset %d last epoch %d, want %x-%d epoch %d offset %d last epoch %d",
			req.Topics[0].TopicID, rp.Partition, rp.CurrentLeaderEpoch, rp.FetchOffset, rp.LastFetchedEpoch,
			topic, partition, epoch, offset, lastEpoch)
	}
}

// fetchAnswer is a Fetch response for one partition of the topic with id
// topic, set by fill.
func fetchAnswer(topic [16]byte, partition int32, fill func(*kmsg.FetchResponseTopicPartition)) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	rt := kmsg.NewFetchResponseTopic()
	rt.TopicID = topic
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.Partition, rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = partition, -1, -1, -1
	fill(&rp)
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)
	return resp
}

// answerListOffsets checks the follower's next request is a replica
// ListOffsets for timestamp and answers offset.
func answerListOffsets(t *testing.T, f *fakeLeader, timestamp, offset int64) {
	t.Helper()
	req := next[*kmsg.ListOffsetsRequest](t, f)
	if req.ReplicaID != 2 || len(req.Topics) != 1 || len(req.Topics[0].Partitions) != 1 || req.Topics[0].Partitions[0].Timestamp != timestamp {
		t.Fatalf("ListOffsets replica %d %+v, want timestamp %d", req.ReplicaID, req.Topics, timestamp)
	}
	resp := kmsg.NewPtrListOffsetsResponse()
	rt := kmsg.NewListOffsetsResponseTopic()
	rt.Topic = req.Topics[0].Topic
	rp := kmsg.NewListOffsetsResponseTopicPartition()
	rp.Partition, rp.Offset = req.Topics[0].Partitions[0].Partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)
	f.answers <- resp
}

// batches are one-record batches at offsets from..to-1 in leader epoch epoch.
func batches(from, to int64, epoch int32) []byte {
	var out []byte
	for o := from; o < to; o++ {
		start := len(out)
		out = segment.EncodeBatch(out, segment.BatchSpec{BaseTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
			[]segment.Record{{Value: []byte("v")}})
		segment.SetBaseOffset(out[start:], o)
		segment.SetPartitionLeaderEpoch(out[start:], epoch)
	}
	return out
}

// createLedBy1 creates topic "t" with two partitions on brokers 1 and 2
// and returns one that broker 1 leads.
func createLedBy1(t *testing.T, ctrl *quorum.Controller) (*quorum.Topic, quorum.Partition) {
	t.Helper()
	top, err := ctrl.CreateTopic(quorum.CreateTopic{Name: "t", Partitions: 2, ReplicationFactor: 2}, 1, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, mp := range top.Partitions {
		if mp.Leader == 1 {
			return top, mp
		}
	}
	t.Fatalf("broker 1 leads no partition of %+v", top.Partitions)
	return nil, quorum.Partition{}
}

// TestFollowerScript drives a follower through a leader played by the
// test: records are appended and HW follows the leader's; a DivergingEpoch
// truncates; OFFSET_OUT_OF_RANGE with the leader's LEO below the
// follower's truncates to it, and with the leader's log start above the
// follower's LEO restarts the log there; FENCED_LEADER_EPOCH stops the
// fetching until the partition's metadata changes.
func TestFollowerScript(t *testing.T) {
	leader := startFakeLeader(t)
	dd := openDataDir(t)
	ctrl := openController(t, openDataDir(t), leader.port(), 1)
	m := newManager(t, ctrl, ctrl, dd, 2)
	top, mp := createLedBy1(t, ctrl)
	p := m.Partition("t", mp.ID)
	epoch := ids.Epoch(mp.LeaderEpoch)
	answer := func(fill func(*kmsg.FetchResponseTopicPartition)) { leader.answers <- fetchAnswer(top.ID, mp.ID, fill) }

	fetchAt(t, leader, ctrl, top.ID, mp.ID, epoch, 0, -1)
	answer(func(rp *kmsg.FetchResponseTopicPartition) {
		rp.HighWatermark, rp.LogStartOffset, rp.RecordBatches = 4, 0, batches(0, 5, int32(epoch))
	})
	fetchAt(t, leader, ctrl, top.ID, mp.ID, epoch, 5, int32(epoch))
	if hw := p.HighWatermark(); hw != 4 {
		t.Fatalf("follower HW %d after the leader's 4", hw)
	}
	answer(func(rp *kmsg.FetchResponseTopicPartition) {
		rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = int32(epoch), 3
	})
	fetchAt(t, leader, ctrl, top.ID, mp.ID, epoch, 3, int32(epoch))

	// The leader's log ends at 2, below the follower's 3: truncate to it.
	answer(func(rp *kmsg.FetchResponseTopicPartition) { rp.ErrorCode = kerr.OffsetOutOfRange.Code })
	answerListOffsets(t, leader, -1, 2)
	fetchAt(t, leader, ctrl, top.ID, mp.ID, epoch, 2, int32(epoch))

	// The leader's log starts at 50, above the follower's end: restart there.
	answer(func(rp *kmsg.FetchResponseTopicPartition) { rp.ErrorCode = kerr.OffsetOutOfRange.Code })
	answerListOffsets(t, leader, -1, 100)
	answerListOffsets(t, leader, -2, 50)
	fetchAt(t, leader, ctrl, top.ID, mp.ID, epoch, 50, -1)
	answer(func(rp *kmsg.FetchResponseTopicPartition) {
		rp.HighWatermark, rp.LogStartOffset, rp.RecordBatches = 51, 50, batches(50, 51, int32(epoch))
	})
	fetchAt(t, leader, ctrl, top.ID, mp.ID, epoch, 51, int32(epoch))
	if hw, start := p.HighWatermark(), p.Log().LogStartOffset(); hw != 51 || start != 50 {
		t.Fatalf("follower HW %d, log start %d after restarting at 50", hw, start)
	}
	// The leader deleted records below 51 (retention or DeleteRecords).
	answer(func(rp *kmsg.FetchResponseTopicPartition) {
		rp.HighWatermark, rp.LogStartOffset, rp.RecordBatches = 52, 51, batches(51, 52, int32(epoch))
	})
	fetchAt(t, leader, ctrl, top.ID, mp.ID, epoch, 52, int32(epoch))
	if hw, start := p.HighWatermark(), p.Log().LogStartOffset(); hw != 52 || start != 51 {
		t.Fatalf("follower HW %d, log start %d after the leader's log start moved to 51", hw, start)
	}
	text := metricsText(m)
	if lag := fmt.Sprintf(`riffle_partition_follower_lag_offsets{topic="t",partition="%d"} 0`, mp.ID); !strings.Contains(text, lag) {
		t.Errorf("metrics lack %q:\n%s", lag, text)
	}
	if strings.Contains(text, "riffle_replica_fetch_bytes_total 0\n") {
		t.Errorf("no fetched bytes counted:\n%s", text)
	}

	// Fenced: no fetch until the topic changes.
	answer(func(rp *kmsg.FetchResponseTopicPartition) { rp.ErrorCode = kerr.FencedLeaderEpoch.Code })
	select {
	case req := <-leader.requests:
		t.Fatalf("fetched again after FENCED_LEADER_EPOCH: %s", kmsg.NameForKey(req.Key()))
	case <-time.After(500 * time.Millisecond): // ten fetch backoffs
	}
	if err := ctrl.AlterTopicConfigs("t", map[string]*string{"retention.ms": kmsg.StringPtr("60000")}, false); err != nil {
		t.Fatal(err)
	}
	fetchAt(t, leader, ctrl, top.ID, mp.ID, epoch, 52, int32(epoch))
}

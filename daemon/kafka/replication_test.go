package kafka

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
)

// replStack is broker 1 of a two-broker cluster as the Kafka layer sees
// it: a one-voter controller with broker 2 registered, and topic "repl"
// with replication factor 2 whose replicas on broker 1 are real
// replica.Partitions over segment logs, leaders or followers as the image
// says. Broker 2 is played by the test's follower fetches.
type replStack struct {
	t     *testing.T
	b     *Broker
	ctrl  *quorum.Controller
	topic string

	lookups atomic.Int64 // Partition calls: a fetch's read passes

	mu    sync.Mutex
	parts map[topicPartition]*replica.Partition
}

const (
	replFollower  = 2 // the other broker's node id
	replFollowerH = "127.0.0.2"
	replFollowerP = 9093
	replRack      = "rack-b"
)

func (s *replStack) Partition(topic string, partition int32) *replica.Partition {
	s.lookups.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.parts[topicPartition{topic, partition}]
}

// newReplStack starts the stack with four partitions of "repl" at
// min.insync.replicas minISR; every ISR is both brokers.
func newReplStack(t *testing.T, minISR int) *replStack {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	segCfg := segment.DefaultConfig()
	dd, err := segment.OpenDataDir(t.TempDir(), func(string) segment.Config { return segCfg }, segment.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dd.Close() })
	mlog, err := dd.CreateLog(quorum.MetadataTopic, 0, quorum.MetadataLogConfig(segCfg))
	if err != nil {
		t.Fatal(err)
	}
	ctrl, err := quorum.Open(mlog, quorum.Options{NodeID: stackNodeID, ValidateTopicConfig: quorum.ValidateTopicConfig,
		Broker: quorum.Broker{ID: stackNodeID, Host: "127.0.0.1", Port: 9092}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctrl.Close() })
	if err := ctrl.RegisterBroker(quorum.Broker{ID: replFollower, Host: replFollowerH, Port: replFollowerP, Rack: replRack}); err != nil {
		t.Fatal(err)
	}
	s := &replStack{t: t, ctrl: ctrl, topic: "repl", parts: map[topicPartition]*replica.Partition{}}
	top, err := ctrl.CreateTopic(quorum.CreateTopic{Name: s.topic, Partitions: 4, ReplicationFactor: 2}, 1, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, mp := range top.Partitions {
		if len(mp.ISR) != 2 {
			t.Fatalf("partition %d: ISR %v", mp.ID, mp.ISR)
		}
		l, err := dd.CreateLog(s.topic, mp.ID, segCfg)
		if err != nil {
			t.Fatal(err)
		}
		p, err := replica.Open(l, replica.Options{Topic: s.topic, Partition: mp.ID, NodeID: stackNodeID,
			LeaderEpoch: mp.LeaderEpoch, MinInsyncReplicas: minISR, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		if mp.Leader == stackNodeID {
			err = p.BecomeLeader(replica.Leadership{Epoch: ids.Epoch(mp.LeaderEpoch), PartitionEpoch: mp.PartitionEpoch,
				Replicas: nodeIDs(mp.Replicas), ISR: nodeIDs(mp.ISR)}, time.Now())
		} else {
			err = p.BecomeFollower(ids.NodeID(mp.Leader), ids.Epoch(mp.LeaderEpoch), mp.PartitionEpoch)
		}
		if err != nil {
			t.Fatal(err)
		}
		s.parts[topicPartition{s.topic, mp.ID}] = p
	}
	s.b = New(Config{NodeID: stackNodeID, FetchWaitMsMax: 30_000, Logger: quiet}, ctrl, s)
	return s
}

func nodeIDs(in []int32) []ids.NodeID {
	out := make([]ids.NodeID, len(in))
	for i, id := range in {
		out[i] = ids.NodeID(id)
	}
	return out
}

// ledBy lists the partitions of the topic the image says node leads.
func (s *replStack) ledBy(node int32) []int32 {
	var out []int32
	for _, mp := range s.ctrl.Image().Topic(s.topic).Partitions {
		if mp.Leader == node {
			out = append(out, mp.ID)
		}
	}
	return out
}

// led is a partition broker 1 leads, other a second one when n is 2.
func (s *replStack) led(n int) []int32 {
	s.t.Helper()
	led := s.ledBy(stackNodeID)
	if len(led) < n {
		s.t.Fatalf("broker 1 leads %v, want %d partitions", led, n)
	}
	return led[:n]
}

func (s *replStack) part(id int32) *replica.Partition { return s.Partition(s.topic, id) }

// produce1 appends n records to partition with acks=1.
func (s *replStack) produce1(partition int32, n int) {
	s.t.Helper()
	req := produceReq(11, 1, s.topic, map[int32][]byte{partition: plainBatch(n)})
	if sp := partitionAnswer(s.t, roundTrip[*kmsg.ProduceResponse](s.t, s.b, req), partition); sp.ErrorCode != 0 {
		s.t.Fatalf("produce to %d: error %d", partition, sp.ErrorCode)
	}
}

// bumpEpoch makes broker 1 lead partition in the next leader epoch, as
// after a re-election the image has not shown yet; it starts at LEO.
func (s *replStack) bumpEpoch(partition int32) {
	s.t.Helper()
	mp := s.ctrl.Image().Topic(s.topic).Partitions[partition]
	if err := s.part(partition).BecomeLeader(replica.Leadership{Epoch: ids.Epoch(s.part(partition).LeaderEpoch() + 1),
		PartitionEpoch: mp.PartitionEpoch + 1, Replicas: nodeIDs(mp.Replicas), ISR: nodeIDs(mp.ISR)}, time.Now()); err != nil {
		s.t.Fatal(err)
	}
}

// followerFetch is broker 2's Fetch v12 of one partition.
func (s *replStack) followerFetch(partition int32, offset int64, lastEpoch int32, maxWaitMs int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = replFollower, maxWaitMs, 1, 1<<20
	req.SessionID, req.SessionEpoch = 0, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = s.topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.LastFetchedEpoch, rp.PartitionMaxBytes = partition, offset, lastEpoch, 1<<20
	rp.CurrentLeaderEpoch = s.part(partition).LeaderEpoch()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// produceAsync serves req on its own goroutine; the answer arrives on the
// channel.
func (s *replStack) produceAsync(req *kmsg.ProduceRequest) <-chan *kmsg.ProduceResponse {
	done := make(chan *kmsg.ProduceResponse, 1)
	go func() {
		resp, err := exchange[*kmsg.ProduceResponse](s.b, req)
		if err != nil {
			s.t.Error(err)
		}
		done <- resp
	}()
	return done
}

// waitLEO waits until partition's LEO reaches leo.
func (s *replStack) waitLEO(partition int32, leo int64) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for s.part(partition).Log().LogEndOffset() < leo {
		if time.Now().After(deadline) {
			s.t.Fatalf("partition %d: LEO %d, want %d", partition, s.part(partition).Log().LogEndOffset(), leo)
		}
		time.Sleep(time.Millisecond)
	}
}

// answer receives a produce's answer, failing after a generous bound.
func answer(t *testing.T, done <-chan *kmsg.ProduceResponse) *kmsg.ProduceResponse {
	t.Helper()
	select {
	case resp := <-done:
		return resp
	case <-time.After(30 * time.Second):
		t.Fatal("produce never answered")
		return nil
	}
}

// partitionAnswer is the answer for partition of the response's only topic.
func partitionAnswer(t *testing.T, resp *kmsg.ProduceResponse, partition int32) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	if resp == nil || len(resp.Topics) != 1 {
		t.Fatalf("response %+v", resp)
	}
	for _, sp := range resp.Topics[0].Partitions {
		if sp.Partition == partition {
			return sp
		}
	}
	t.Fatalf("no answer for partition %d in %+v", partition, resp)
	return kmsg.ProduceResponseTopicPartition{}
}

// onlyFetched is the only partition of a fetch response.
func onlyFetched(t *testing.T, resp *kmsg.FetchResponse) kmsg.FetchResponseTopicPartition {
	t.Helper()
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch response %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

// TestProduceAcksAllWaitsForFollower: an acks=all produce to two partitions
// appends both at once, then answers only when the follower's fetches have
// carried HW past each batch; the follower reads beyond HW meanwhile.
func TestProduceAcksAllWaitsForFollower(t *testing.T) {
	s := newReplStack(t, 1)
	parts := s.led(2)
	a, b := parts[0], parts[1]
	req := produceReq(11, -1, s.topic, map[int32][]byte{a: plainBatch(3), b: plainBatch(2)})
	req.TimeoutMillis = 60_000
	done := s.produceAsync(req)
	// Both partitions are appended before any replica has the batch.
	s.waitLEO(a, 3)
	s.waitLEO(b, 2)
	select {
	case resp := <-done:
		t.Fatalf("acks=all answered before any follower fetch: %+v", resp)
	default:
	}

	// The follower reads up to LEO, beyond HW; a consumer sees nothing yet.
	for _, p := range parts {
		fp := onlyFetched(t, roundTrip[*kmsg.FetchResponse](t, s.b, s.followerFetch(p, 0, -1, 0)))
		if fp.ErrorCode != 0 || fp.HighWatermark != 0 || len(fp.RecordBatches) == 0 {
			t.Fatalf("follower fetch of %d: error %d, HW %d, %d bytes", p, fp.ErrorCode, fp.HighWatermark, len(fp.RecordBatches))
		}
		if got := s.part(p).HighWatermark(); got != 0 {
			t.Fatalf("partition %d: HW %d before the follower reported its LEO", p, got)
		}
	}
	consumer := kmsg.NewPtrFetchRequest()
	consumer.SetVersion(12)
	consumer.ReplicaID, consumer.MaxBytes, consumer.SessionEpoch = -1, 1<<20, -1
	ct := kmsg.NewFetchRequestTopic()
	ct.Topic = s.topic
	cp := kmsg.NewFetchRequestTopicPartition()
	cp.Partition, cp.PartitionMaxBytes = a, 1<<20
	ct.Partitions = append(ct.Partitions, cp)
	consumer.Topics = append(consumer.Topics, ct)
	if fp := onlyFetched(t, roundTrip[*kmsg.FetchResponse](t, s.b, consumer)); fp.ErrorCode != 0 || len(fp.RecordBatches) != 0 {
		t.Fatalf("consumer fetch below HW: error %d, %d bytes", fp.ErrorCode, len(fp.RecordBatches))
	}

	// Only partition a is replicated: the request still waits for b.
	if fp := onlyFetched(t, roundTrip[*kmsg.FetchResponse](t, s.b, s.followerFetch(a, 3, 0, 0))); fp.ErrorCode != 0 {
		t.Fatalf("follower fetch at LEO: error %d", fp.ErrorCode)
	}
	if got := s.part(a).HighWatermark(); got != 3 {
		t.Fatalf("HW %d after the follower reached LEO 3", got)
	}
	select {
	case resp := <-done:
		t.Fatalf("answered with partition %d unreplicated: %+v", b, resp)
	default:
	}
	roundTrip[*kmsg.FetchResponse](t, s.b, s.followerFetch(b, 2, 0, 0))
	resp := answer(t, done)
	for p, base := range map[int32]int64{a: 0, b: 0} {
		if sp := partitionAnswer(t, resp, p); sp.ErrorCode != 0 || sp.BaseOffset != base {
			t.Fatalf("partition %d: error %d, base %d", p, sp.ErrorCode, sp.BaseOffset)
		}
	}
}

// TestProduceAcksAllTimesOut: without follower fetches the request answers
// REQUEST_TIMED_OUT at its timeout, keeping the base offset as Kafka's
// DelayedProduce does (the batch is in the log and may still commit).
func TestProduceAcksAllTimesOut(t *testing.T) {
	s := newReplStack(t, 1)
	p := s.led(1)[0]
	req := produceReq(11, -1, s.topic, map[int32][]byte{p: plainBatch(2)})
	req.TimeoutMillis = 200
	start := time.Now()
	sp := partitionAnswer(t, roundTrip[*kmsg.ProduceResponse](t, s.b, req), p)
	if sp.ErrorCode != kerr.RequestTimedOut.Code || sp.BaseOffset != 0 {
		t.Fatalf("error %d, base %d; want REQUEST_TIMED_OUT at base 0", sp.ErrorCode, sp.BaseOffset)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Fatalf("answered after %v, before the 200 ms timeout", waited)
	}
	if leo := s.part(p).Log().LogEndOffset(); leo != 2 {
		t.Fatalf("LEO %d: the batch must stay appended", leo)
	}
	// acks=1 does not wait.
	sp = partitionAnswer(t, roundTrip[*kmsg.ProduceResponse](t, s.b, produceReq(11, 1, s.topic, map[int32][]byte{p: plainBatch(1)})), p)
	if sp.ErrorCode != 0 || sp.BaseOffset != 2 {
		t.Fatalf("acks=1: error %d, base %d", sp.ErrorCode, sp.BaseOffset)
	}
}

// TestProduceAcksAllLeadershipLost: a produce waiting for replicas when the
// broker becomes a follower answers NOT_LEADER_OR_FOLLOWER.
func TestProduceAcksAllLeadershipLost(t *testing.T) {
	s := newReplStack(t, 1)
	p := s.led(1)[0]
	req := produceReq(11, -1, s.topic, map[int32][]byte{p: plainBatch(1)})
	req.TimeoutMillis = 60_000
	done := s.produceAsync(req)
	s.waitLEO(p, 1)
	if err := s.part(p).BecomeFollower(replFollower, ids.Epoch(s.part(p).LeaderEpoch()+1), 5); err != nil {
		t.Fatal(err)
	}
	if sp := partitionAnswer(t, answer(t, done), p); sp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("error %d, want NOT_LEADER_OR_FOLLOWER", sp.ErrorCode)
	}
}

// TestFollowerFetchLongPollEndsOnLEO: a caught-up follower's fetch waits
// for LEO to move. The append does not move HW (the follower has not
// fetched it), so a wait on HW would sleep to max_wait.
func TestFollowerFetchLongPollEndsOnLEO(t *testing.T) {
	s := newReplStack(t, 1)
	p := s.led(1)[0]
	req := s.followerFetch(p, 0, -1, 30_000)
	before := s.lookups.Load()
	start := time.Now()
	got := make(chan kmsg.FetchResponseTopicPartition, 1)
	go func() {
		resp, err := exchange[*kmsg.FetchResponse](s.b, req)
		if err != nil {
			t.Error(err)
		}
		got <- onlyFetched(t, resp)
	}()
	// The second read pass comes once the watches are in place: the
	// append lands in the wait.
	for s.lookups.Load() < before+2 {
		if time.Since(start) > 20*time.Second {
			t.Fatal("the fetch never read twice")
		}
		time.Sleep(time.Millisecond)
	}
	s.produce1(p, 1)
	select {
	case fp := <-got:
		if fp.ErrorCode != 0 || len(fp.RecordBatches) == 0 || fp.HighWatermark != 0 {
			t.Fatalf("long poll: error %d, %d bytes, HW %d", fp.ErrorCode, len(fp.RecordBatches), fp.HighWatermark)
		}
		if waited := time.Since(start); waited > 20*time.Second {
			t.Fatalf("answered after %v", waited)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the follower's long poll did not end on an append")
	}
}

// TestFollowerFetchDivergingEpoch: a follower whose last fetched epoch ended
// earlier on the leader gets DivergingEpoch and no records, decoded by kmsg
// from the hand-encoded response.
func TestFollowerFetchDivergingEpoch(t *testing.T) {
	s := newReplStack(t, 1)
	p := s.led(1)[0]
	epoch0 := s.part(p).LeaderEpoch()
	s.produce1(p, 3)
	s.bumpEpoch(p) // the new epoch starts at offset 3
	s.produce1(p, 2)
	// The follower holds epoch-0 records up to offset 4: it diverges at 3.
	fp := onlyFetched(t, roundTrip[*kmsg.FetchResponse](t, s.b, s.followerFetch(p, 4, epoch0, 30_000)))
	if fp.ErrorCode != 0 || len(fp.RecordBatches) != 0 {
		t.Fatalf("diverging fetch: error %d, %d bytes", fp.ErrorCode, len(fp.RecordBatches))
	}
	if fp.DivergingEpoch.Epoch != epoch0 || fp.DivergingEpoch.EndOffset != 3 {
		t.Fatalf("DivergingEpoch %+v, want {%d 3}", fp.DivergingEpoch, epoch0)
	}
	// A follower in line gets records and no DivergingEpoch.
	fp = onlyFetched(t, roundTrip[*kmsg.FetchResponse](t, s.b, s.followerFetch(p, 3, epoch0, 0)))
	if fp.ErrorCode != 0 || len(fp.RecordBatches) == 0 || fp.DivergingEpoch.Epoch != -1 || fp.DivergingEpoch.EndOffset != -1 {
		t.Fatalf("fetch in line: error %d, %d bytes, DivergingEpoch %+v", fp.ErrorCode, len(fp.RecordBatches), fp.DivergingEpoch)
	}
}

// TestFollowerFetchErrors: a follower fetch of a partition this broker
// follows, or with a stale leader epoch, is refused per partition.
func TestFollowerFetchErrors(t *testing.T) {
	s := newReplStack(t, 1)
	followed := s.ledBy(replFollower)
	if len(followed) == 0 {
		t.Fatal("broker 2 leads no partition")
	}
	req := s.followerFetch(followed[0], 0, -1, 0)
	if fp := onlyFetched(t, roundTrip[*kmsg.FetchResponse](t, s.b, req)); fp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("fetch from a follower: error %d", fp.ErrorCode)
	}
	// A wrong leader epoch ends the long poll at once.
	p := s.led(1)[0]
	req = s.followerFetch(p, 0, -1, 30_000)
	epoch := req.Topics[0].Partitions[0].CurrentLeaderEpoch
	req.Topics[0].Partitions[0].CurrentLeaderEpoch = epoch + 1
	if fp := onlyFetched(t, roundTrip[*kmsg.FetchResponse](t, s.b, req)); fp.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("newer leader epoch: error %d", fp.ErrorCode)
	}
	s.bumpEpoch(p)
	req.Topics[0].Partitions[0].CurrentLeaderEpoch = epoch
	if fp := onlyFetched(t, roundTrip[*kmsg.FetchResponse](t, s.b, req)); fp.ErrorCode != kerr.FencedLeaderEpoch.Code {
		t.Fatalf("older leader epoch: error %d", fp.ErrorCode)
	}
	// No session for replicas.
	req = s.followerFetch(p, 0, -1, 0)
	req.SessionID, req.SessionEpoch = 7, 1
	if resp := roundTrip[*kmsg.FetchResponse](t, s.b, req); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("replica session: error %d", resp.ErrorCode)
	}
}

// TestProduceNotLeaderHints: Produce v10+ to a partition broker 2 leads
// names the leader and its endpoint (KIP-951); v9 has no such fields.
func TestProduceNotLeaderHints(t *testing.T) {
	s := newReplStack(t, 1)
	followed := s.ledBy(replFollower)
	if len(followed) < 2 {
		t.Fatalf("broker 2 leads %v", followed)
	}
	epoch := s.ctrl.Image().Topic(s.topic).Partitions[followed[0]].LeaderEpoch
	batches := map[int32][]byte{followed[0]: plainBatch(1), followed[1]: plainBatch(1)}
	for _, v := range []int16{9, 10, 11} {
		resp := roundTrip[*kmsg.ProduceResponse](t, s.b, produceReq(v, -1, s.topic, batches))
		sp := partitionAnswer(t, resp, followed[0])
		if sp.ErrorCode != kerr.NotLeaderForPartition.Code {
			t.Fatalf("v%d: error %d", v, sp.ErrorCode)
		}
		if v < 10 {
			if sp.CurrentLeader.LeaderID != -1 || len(resp.Brokers) != 0 {
				t.Fatalf("v%d: hints %+v, brokers %+v", v, sp.CurrentLeader, resp.Brokers)
			}
			continue
		}
		if sp.CurrentLeader.LeaderID != replFollower || sp.CurrentLeader.LeaderEpoch != epoch {
			t.Fatalf("v%d: CurrentLeader %+v, want {%d %d}", v, sp.CurrentLeader, replFollower, epoch)
		}
		// Two partitions with one leader: its endpoint once.
		if len(resp.Brokers) != 1 {
			t.Fatalf("v%d: NodeEndpoints %+v", v, resp.Brokers)
		}
		n := resp.Brokers[0]
		if n.NodeID != replFollower || n.Host != replFollowerH || n.Port != replFollowerP || n.Rack == nil || *n.Rack != replRack {
			t.Fatalf("v%d: NodeEndpoints %+v", v, n)
		}
	}
}

// TestReplicationErrorCodes pins the codes of the replication errors.
func TestReplicationErrorCodes(t *testing.T) {
	s := newReplStack(t, 1)
	for err, code := range map[error]int16{
		replica.ErrNotLeader:                    kerr.NotLeaderForPartition.Code,
		replica.ErrFencedLeaderEpoch:            kerr.FencedLeaderEpoch.Code,
		replica.ErrUnknownLeaderEpoch:           kerr.UnknownLeaderEpoch.Code,
		replica.ErrNotEnoughReplicas:            kerr.NotEnoughReplicas.Code,
		replica.ErrNotEnoughReplicasAfterAppend: kerr.NotEnoughReplicasAfterAppend.Code,
	} {
		if got := s.b.errorCode(err); got != code {
			t.Errorf("%v: code %d, want %d", err, got, code)
		}
	}
}

// TestListOffsetsNewLeaderHWLags: after a leader epoch change, until HW
// reaches the epoch's start a consumer's ListOffsets(latest) is
// OFFSET_NOT_AVAILABLE; a replica's is answered from LEO.
func TestListOffsetsNewLeaderHWLags(t *testing.T) {
	s := newReplStack(t, 1)
	p := s.led(1)[0]
	part := s.part(p)
	epoch0 := part.LeaderEpoch()
	s.produce1(p, 3)
	s.bumpEpoch(p)
	listOffset := func(replicaID int32, ts int64) kmsg.ListOffsetsResponseTopicPartition {
		req := kmsg.NewPtrListOffsetsRequest()
		req.SetVersion(7)
		req.ReplicaID = replicaID
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = s.topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p, ts
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := roundTrip[*kmsg.ListOffsetsResponse](t, s.b, req)
		return resp.Topics[0].Partitions[0]
	}
	if hw := part.HighWatermark(); hw >= 3 {
		t.Fatalf("HW %d: the follower never fetched the batch", hw)
	}
	if out := listOffset(-1, timestampLatest); out.ErrorCode != kerr.OffsetNotAvailable.Code {
		t.Fatalf("latest while HW lags: error %d, offset %d", out.ErrorCode, out.Offset)
	}
	if out := listOffset(-1, 1000); out.ErrorCode != kerr.OffsetNotAvailable.Code {
		t.Fatalf("timestamp above HW while HW lags: error %d, offset %d", out.ErrorCode, out.Offset)
	}
	if out := listOffset(-1, timestampEarliest); out.ErrorCode != 0 || out.Offset != 0 {
		t.Fatalf("earliest: error %d, offset %d", out.ErrorCode, out.Offset)
	}
	if out := listOffset(replFollower, timestampLatest); out.ErrorCode != 0 || out.Offset != 3 {
		t.Fatalf("replica's latest: error %d, offset %d", out.ErrorCode, out.Offset)
	}
	if fp := onlyFetched(t, roundTrip[*kmsg.FetchResponse](t, s.b, s.followerFetch(p, 3, epoch0, 0))); fp.ErrorCode != 0 {
		t.Fatalf("follower fetch: error %d", fp.ErrorCode)
	}
	if out := listOffset(-1, timestampLatest); out.ErrorCode != 0 || out.Offset != 3 {
		t.Fatalf("latest once HW caught up: error %d, offset %d", out.ErrorCode, out.Offset)
	}
}

// TestFollowerFetchReplicaState: from v15 the follower names itself in
// ReplicaState with its broker epoch. An epoch older than the metadata's
// for that broker (a fetcher from before it restarted) is refused with
// NOT_LEADER_OR_FOLLOWER and does not count as the follower's LEO.
func TestFollowerFetchReplicaState(t *testing.T) {
	s := newReplStack(t, 1)
	p := s.led(1)[0]
	s.produce1(p, 2)
	br, ok := s.ctrl.Image().Broker(replFollower)
	if !ok {
		t.Fatal("broker 2 not registered")
	}
	fetchV15 := func(offset int64, brokerEpoch int64) kmsg.FetchResponseTopicPartition {
		req := s.followerFetch(p, offset, 0, 0)
		req.SetVersion(15)
		req.ReplicaID = -1 // not on the wire from v15
		req.ReplicaState.ID, req.ReplicaState.Epoch = replFollower, brokerEpoch
		req.Topics[0].TopicID = s.ctrl.Image().Topic(s.topic).ID
		return onlyFetched(t, roundTrip[*kmsg.FetchResponse](t, s.b, req))
	}
	if fp := fetchV15(0, br.Epoch); fp.ErrorCode != 0 || len(fp.RecordBatches) == 0 {
		t.Fatalf("fetch at broker epoch %d: error %d, %d bytes", br.Epoch, fp.ErrorCode, len(fp.RecordBatches))
	}
	if fp := fetchV15(2, br.Epoch-1); fp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("stale broker epoch: error %d", fp.ErrorCode)
	}
	if hw := s.part(p).HighWatermark(); hw != 0 {
		t.Fatalf("HW %d: the stale fetch's offset counted", hw)
	}
	if fp := fetchV15(2, -1); fp.ErrorCode != 0 {
		t.Fatalf("no broker epoch: error %d", fp.ErrorCode)
	}
	if hw := s.part(p).HighWatermark(); hw != 2 {
		t.Fatalf("HW %d after the follower reached 2", hw)
	}
}

// TestFetchNotLeaderHints: Fetch v16 answers NOT_LEADER_OR_FOLLOWER and
// FENCED_LEADER_EPOCH with the leader and epoch by the metadata and the
// leaders' endpoints (KIP-951); v15 has no such fields.
func TestFetchNotLeaderHints(t *testing.T) {
	s := newReplStack(t, 1)
	followed, led := s.ledBy(replFollower), s.led(1)[0]
	if len(followed) == 0 {
		t.Fatal("broker 2 leads no partition")
	}
	im := s.ctrl.Image()
	mps := im.Topic(s.topic).Partitions
	for _, v := range []int16{15, 16} {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(v)
		req.ReplicaState.ID, req.MaxBytes, req.SessionEpoch = -1, 1<<20, -1
		rt := kmsg.NewFetchRequestTopic()
		rt.TopicID = im.Topic(s.topic).ID
		for _, p := range []int32{followed[0], led} {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = p, 1<<20, mps[p].LeaderEpoch
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		s.bumpEpoch(led) // the request's epoch for led is now fenced
		resp := roundTrip[*kmsg.FetchResponse](t, s.b, req)
		ps := resp.Topics[0].Partitions
		if len(ps) != 2 || ps[0].ErrorCode != kerr.NotLeaderForPartition.Code || ps[1].ErrorCode != kerr.FencedLeaderEpoch.Code {
			t.Fatalf("v%d: answers %+v", v, ps)
		}
		if v < 16 {
			if ps[0].CurrentLeader.LeaderID != -1 || ps[1].CurrentLeader.LeaderID != -1 || len(resp.Brokers) != 0 {
				t.Fatalf("v%d: hints %+v %+v, brokers %+v", v, ps[0].CurrentLeader, ps[1].CurrentLeader, resp.Brokers)
			}
			continue
		}
		// The metadata's leader and epoch, even where this broker has
		// moved on to an epoch the image does not show yet.
		if got := ps[0].CurrentLeader; got.LeaderID != replFollower || got.LeaderEpoch != mps[followed[0]].LeaderEpoch {
			t.Fatalf("v%d: CurrentLeader %+v of a partition broker 2 leads", v, got)
		}
		if got := ps[1].CurrentLeader; got.LeaderID != stackNodeID || got.LeaderEpoch != mps[led].LeaderEpoch {
			t.Fatalf("v%d: CurrentLeader %+v of a fenced fetch", v, got)
		}
		endpoints := map[int32]string{}
		for _, n := range resp.Brokers {
			endpoints[n.NodeID] = n.Host
		}
		if len(resp.Brokers) != 2 || endpoints[replFollower] != replFollowerH || endpoints[stackNodeID] != "127.0.0.1" {
			t.Fatalf("v%d: NodeEndpoints %+v", v, resp.Brokers)
		}
	}
}

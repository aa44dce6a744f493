package replicas

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
)

// fetchTimeout bounds a follower request beyond the leader's long poll
// (Kafka's replica.socket.timeout.ms).
const fetchTimeout = 30 * time.Second

// Wire versions of the follower's requests: Fetch v15 carries
// LastFetchedEpoch and answers DivergingEpoch (v12, KIP-320, truncation on
// fetch), names topics by id (v13, KIP-516), and carries this broker's
// epoch in ReplicaState (KIP-903), so that neither the leader nor the
// controller takes a fetch of a previous incarnation of this broker for
// one of the current; ListOffsets v4 carries CurrentLeaderEpoch.
const (
	fetchVersion       = 15
	listOffsetsVersion = 4
)

// fetcher is the goroutine that fetches, from one leader, every partition
// this broker follows it in (Kafka's ReplicaFetcherThread): one sessionless
// Fetch at a time over one connection, each partition at its own LEO.
type fetcher struct {
	m      *Manager
	source ids.NodeID
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{} // a partition was added or resumed

	// mu guards parts and is held while a response is applied, so that a
	// partition removed (a role change) is never appended to afterwards.
	mu    sync.Mutex
	parts map[topicPartition]*fetchPartition
}

// fetchPartition is one followed partition.
type fetchPartition struct {
	p     *replica.Partition
	epoch ids.Epoch
	// fenced: the leader answered FENCED_LEADER_EPOCH, so this broker's
	// epoch is stale; the partition waits for the next image change that
	// touches it. delayUntil: an error backs the partition off until then.
	fenced     bool
	delayUntil time.Time
	lag        int64 // leader HW minus this replica's LEO at the last response
}

func newFetcher(m *Manager, source ids.NodeID) *fetcher {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fetcher{m: m, source: source, cancel: cancel, done: make(chan struct{}),
		wake: make(chan struct{}, 1), parts: map[topicPartition]*fetchPartition{}}
	go f.run(ctx)
	return f
}

// add starts fetching tp at the leader's epoch (or moves it to a new one).
func (f *fetcher) add(tp topicPartition, p *replica.Partition, epoch ids.Epoch) {
	f.mu.Lock()
	f.parts[tp] = &fetchPartition{p: p, epoch: epoch}
	f.mu.Unlock()
	f.poke()
}

// remove stops fetching tp; a response being applied to it finishes first.
func (f *fetcher) remove(tp topicPartition) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.parts, tp)
}

// resume ends tp's wait after a fencing error.
func (f *fetcher) resume(tp topicPartition) {
	f.mu.Lock()
	fp := f.parts[tp]
	if fp != nil {
		fp.fenced = false
	}
	f.mu.Unlock()
	if fp != nil {
		f.poke()
	}
}

func (f *fetcher) empty() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.parts) == 0
}

func (f *fetcher) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// stop ends the goroutine and waits for it.
func (f *fetcher) stop() {
	f.cancel()
	<-f.done
}

func (f *fetcher) run(ctx context.Context) {
	defer close(f.done)
	var c *leaderConn
	defer func() {
		if c != nil {
			c.close()
		}
	}()
	failing := false // log the first failure of a series as a warning
	for ctx.Err() == nil {
		req, sent, next := f.request(time.Now())
		if req == nil {
			f.wait(ctx, next)
			continue
		}
		err := func() error {
			if c == nil {
				var err error
				if c, err = f.dial(ctx); err != nil {
					return err
				}
			}
			resp, err := c.call(ctx, req, f.m.opts.Fetch.WaitMax+fetchTimeout)
			if err != nil {
				return err
			}
			return f.handle(ctx, c, resp.(*kmsg.FetchResponse), sent)
		}()
		switch {
		case err == nil:
			failing = false
			continue
		case ctx.Err() != nil:
			return
		case !failing:
			f.m.log.Warn("replica fetch failed; retrying", "leader", f.source, "err", err)
		default:
			f.m.log.Debug("replica fetch failed; retrying", "leader", f.source, "err", err)
		}
		failing = true
		if c != nil {
			c.close()
			c = nil
		}
		f.wait(ctx, time.Now().Add(f.m.opts.Fetch.Backoff))
	}
}

// wait sleeps until until (forever when zero), a partition is added or
// resumed, or ctx ends.
func (f *fetcher) wait(ctx context.Context, until time.Time) {
	var timer <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
	case <-f.wake:
	case <-timer:
	}
}

// dial connects to the leader's Kafka listener as the latest image has it.
func (f *fetcher) dial(ctx context.Context) (*leaderConn, error) {
	b, ok := f.m.opts.Metadata.Image().Broker(int32(f.source))
	if !ok {
		return nil, fmt.Errorf("leader %d is not registered", f.source)
	}
	c, err := dialLeader(ctx, f.m.opts.Dial, f.m.opts.SASL, b.Host, b.Port, "riffle-replica-"+strconv.Itoa(int(f.m.opts.NodeID)),
		f.m.opts.Fetch.FrameBytesMax)
	if err != nil {
		return nil, fmt.Errorf("connect to leader %d: %w", f.source, err)
	}
	return c, nil
}

// sentPartition is what a request asked of one partition.
type sentPartition struct {
	fp          *fetchPartition
	fetchOffset ids.Offset
}

// sentFetch is what a request asked: each partition, and the names of the
// topic ids it used.
type sentFetch struct {
	parts  map[topicPartition]sentPartition
	topics map[[16]byte]string
}

// request builds the next Fetch of every partition not backed off, or nil
// when there is none; next is when the first backed-off one may go again
// (zero: none waits on time). A partition whose topic the image no longer
// has waits for its removal, which that image brings.
func (f *fetcher) request(now time.Time) (req *kmsg.FetchRequest, sent sentFetch, next time.Time) {
	cfg := f.m.opts.Fetch
	im := f.m.opts.Metadata.Image()
	f.mu.Lock()
	defer f.mu.Unlock()
	topics := map[string]int{}
	for tp, fp := range f.parts {
		t := im.Topic(tp.topic)
		if fp.fenced || t == nil {
			continue
		}
		if now.Before(fp.delayUntil) {
			if next.IsZero() || fp.delayUntil.Before(next) {
				next = fp.delayUntil
			}
			continue
		}
		if req == nil {
			req = kmsg.NewPtrFetchRequest()
			req.SetVersion(fetchVersion)
			req.ReplicaState.ID, req.ReplicaState.Epoch = int32(f.m.opts.NodeID), -1
			if self, ok := im.Broker(int32(f.m.opts.NodeID)); ok {
				req.ReplicaState.Epoch = self.Epoch
			}
			req.MaxWaitMillis = int32(cfg.WaitMax.Milliseconds())
			req.MinBytes = 1
			req.MaxBytes = cfg.ResponseBytesMax
			req.SessionID, req.SessionEpoch = 0, -1
			sent = sentFetch{parts: map[topicPartition]sentPartition{}, topics: map[[16]byte]string{}}
		}
		i, ok := topics[tp.topic]
		if !ok {
			i = len(req.Topics)
			topics[tp.topic] = i
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = tp.topic, t.ID
			req.Topics = append(req.Topics, rt)
			sent.topics[t.ID] = tp.topic
		}
		offset, lastEpoch, logStart := fp.p.FetchPosition()
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = tp.partition
		rp.CurrentLeaderEpoch = int32(fp.epoch)
		rp.FetchOffset = int64(offset)
		rp.LastFetchedEpoch = int32(lastEpoch)
		rp.LogStartOffset = int64(logStart)
		rp.PartitionMaxBytes = cfg.PartitionBytesMax
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		sent.parts[tp] = sentPartition{fp: fp, fetchOffset: offset}
	}
	return req, sent, next
}

// handle applies a Fetch response to the partitions still followed as
// they were when it was sent. An error means the connection is unusable.
func (f *fetcher) handle(ctx context.Context, c *leaderConn, resp *kmsg.FetchResponse, sent sentFetch) error {
	now := time.Now()
	if resp.ErrorCode != 0 {
		f.backOff(sent.parts, now)
		return fmt.Errorf("leader %d fetch: %w", f.source, kerr.ErrorForCode(resp.ErrorCode))
	}
	var outOfRange []topicPartition
	f.mu.Lock()
	for _, rt := range resp.Topics {
		for i := range rt.Partitions {
			rp := &rt.Partitions[i]
			tp := topicPartition{sent.topics[rt.TopicID], rp.Partition}
			s, ok := sent.parts[tp]
			if !ok || f.parts[tp] != s.fp {
				continue // not asked, or removed or moved to a new epoch since
			}
			if f.apply(tp, s.fp, rp, now) {
				outOfRange = append(outOfRange, tp)
			}
		}
	}
	f.mu.Unlock()
	for _, tp := range outOfRange {
		if err := f.outOfRange(ctx, c, tp, sent.parts[tp], now); err != nil {
			return err
		}
	}
	return nil
}

// backOff delays every partition of a request.
func (f *fetcher) backOff(sent map[topicPartition]sentPartition, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for tp, s := range sent {
		if f.parts[tp] == s.fp {
			s.fp.delayUntil = now.Add(f.m.opts.Fetch.Backoff)
		}
	}
}

// apply applies one partition's answer (cluster-notes §1): a diverging
// epoch truncates; records are appended as the leader sent them; then HW
// and log start follow the leader's. It reports OFFSET_OUT_OF_RANGE, which needs the
// leader's offsets, to the caller.
func (f *fetcher) apply(tp topicPartition, fp *fetchPartition, rp *kmsg.FetchResponseTopicPartition, now time.Time) (outOfRange bool) {
	// The logger is made only for the rare lines: this runs per partition
	// per fetch.
	log := func() *slog.Logger {
		return f.m.log.With("topic", tp.topic, "partition", tp.partition, "leader", f.source)
	}
	switch err := kerr.ErrorForCode(rp.ErrorCode); {
	case err == nil:
	case errors.Is(err, kerr.OffsetOutOfRange):
		return true
	case errors.Is(err, kerr.FencedLeaderEpoch):
		// The leader is at a later epoch than this broker's image: wait for it.
		log().Info("replica fetch fenced; waiting for newer metadata", "leader_epoch", fp.epoch)
		fp.fenced = true
		return false
	default:
		// NOT_LEADER_OR_FOLLOWER, UNKNOWN_LEADER_EPOCH, ...: the leader's
		// metadata is behind this broker's, or it is failing; retry.
		log().Debug("replica fetch error; backing off", "err", err)
		fp.delayUntil = now.Add(f.m.opts.Fetch.Backoff)
		return false
	}
	if d := rp.DivergingEpoch; d.Epoch >= 0 || d.EndOffset >= 0 {
		end := replica.EpochEnd{Epoch: ids.Epoch(d.Epoch), EndOffset: ids.Offset(d.EndOffset)}
		if err := fp.p.TruncateOnDivergence(end); err != nil {
			log().Error("truncating a diverging replica", "diverging_epoch", d.Epoch, "end_offset", d.EndOffset, "err", err)
			fp.delayUntil = now.Add(f.m.opts.Fetch.Backoff)
			return false
		}
		leo, _, _ := fp.p.FetchPosition()
		log().Info("replica truncated on a diverging epoch", "diverging_epoch", d.Epoch, "end_offset", d.EndOffset, "log_end_offset", leo)
		return false
	}
	if n := len(rp.RecordBatches); n > 0 {
		// Checked here, where they enter, and nowhere after. No
		// max.message.bytes: the leader took them under its limit, which
		// may have been lowered since.
		batches, err := segment.ValidateBatches(rp.RecordBatches, math.MaxInt32)
		if len(batches) > 0 {
			err = errors.Join(err, fp.p.AppendAsFollower(batches))
		}
		if err != nil {
			log().Error("appending fetched batches", "err", err)
			fp.delayUntil = now.Add(f.m.opts.Fetch.Backoff)
			return false
		}
		f.m.metrics.fetchBytes.Add(uint64(n))
	}
	fp.p.UpdateFollowerHW(ids.Offset(rp.HighWatermark))
	// After the HW, which bounds it: the leader's retention or
	// DeleteRecords moves this replica's log start too.
	if err := fp.p.UpdateFollowerLogStart(ids.Offset(rp.LogStartOffset)); err != nil {
		log().Error("raising the log start to the leader's", "leader_log_start", rp.LogStartOffset, "err", err)
	}
	leo, _, _ := fp.p.FetchPosition()
	fp.lag = max(rp.HighWatermark-int64(leo), 0)
	return false
}

// outOfRange handles OFFSET_OUT_OF_RANGE as Kafka's follower does
// (AbstractFetcherThread.fetchOffsetAndTruncate): it asks the leader for
// its LEO; if that is below this replica's (an unclean election left this
// replica ahead), it truncates to it; otherwise it asks for the leader's
// log start and, when this replica's LEO is below it, empties the log and
// restarts it there. Either way the next fetch goes from the new LEO.
func (f *fetcher) outOfRange(ctx context.Context, c *leaderConn, tp topicPartition, s sentPartition, now time.Time) error {
	leaderEnd, err := f.listOffset(ctx, c, tp, s.fp.epoch, -1)
	var leaderStart ids.Offset
	if err == nil && leaderEnd >= s.fetchOffset {
		leaderStart, err = f.listOffset(ctx, c, tp, s.fp.epoch, -2)
	}
	var partitionErr *kerr.Error
	if err != nil && !errors.As(err, &partitionErr) {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.parts[tp] != s.fp {
		return nil
	}
	if err != nil {
		f.m.log.Debug("replica fetch out of range; leader offsets unavailable", "topic", tp.topic,
			"partition", tp.partition, "leader", f.source, "err", err)
		s.fp.delayUntil = now.Add(f.m.opts.Fetch.Backoff)
		return nil
	}
	log := f.m.log.With("topic", tp.topic, "partition", tp.partition, "leader", f.source,
		"log_end_offset", s.fetchOffset, "leader_log_end_offset", leaderEnd)
	switch {
	case leaderEnd < s.fetchOffset:
		// No epoch: truncate to min(leader LEO, own LEO) (cluster-notes §1
		// rule 2); the next fetch's LastFetchedEpoch checks the rest.
		err = s.fp.p.TruncateOnDivergence(replica.EpochEnd{Epoch: ids.NoEpoch, EndOffset: leaderEnd})
		log.Warn("replica ahead of its leader's log end: truncating to it", "err", err)
	case leaderStart > s.fetchOffset:
		err = s.fp.p.RestartAt(leaderStart)
		log.Info("replica behind its leader's log start: restarting the log there", "leader_log_start_offset", leaderStart, "err", err)
	default:
		// In range by now (the leader's log moved meanwhile): fetch
		// again, after a pause in case the leader keeps refusing.
		log.Debug("replica fetch out of range, in range now", "leader_log_start_offset", leaderStart)
		s.fp.delayUntil = now.Add(f.m.opts.Fetch.Backoff)
	}
	if err != nil {
		s.fp.delayUntil = now.Add(f.m.opts.Fetch.Backoff)
	}
	return nil
}

// listOffset asks the leader, as a replica, for its LEO (timestamp -1) or
// log start (-2) of tp. A partition's error code comes back as a wrapped
// *kerr.Error (the connection stays usable); any other error breaks the
// connection.
func (f *fetcher) listOffset(ctx context.Context, c *leaderConn, tp topicPartition, epoch ids.Epoch, timestamp int64) (ids.Offset, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(listOffsetsVersion)
	req.ReplicaID = int32(f.m.opts.NodeID)
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = tp.topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.Timestamp = tp.partition, int32(epoch), timestamp
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := c.call(ctx, req, fetchTimeout)
	if err != nil {
		return 0, err
	}
	lr := resp.(*kmsg.ListOffsetsResponse)
	if len(lr.Topics) != 1 || len(lr.Topics[0].Partitions) != 1 {
		return 0, fmt.Errorf("leader %d: ListOffsets of %s-%d answered %d topics", f.source, tp.topic, tp.partition, len(lr.Topics))
	}
	p := lr.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return 0, fmt.Errorf("leader %d: ListOffsets of %s-%d: %w", f.source, tp.topic, tp.partition, err)
	}
	return ids.Offset(p.Offset), nil
}

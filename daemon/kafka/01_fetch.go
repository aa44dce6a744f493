package kafka

// Fetch v4-16: records of each partition as file regions (sendfile), with
// KIP-227 incremental sessions (v7+) and a long poll on max_wait_ms and
// min_bytes. The response is encoded by hand (fetch_encode.go). From v13
// topics are named by id (KIP-516), in requests, sessions and responses; an
// id the metadata does not know is UNKNOWN_TOPIC_ID for each partition.
// From v16 a partition answered NOT_LEADER_OR_FOLLOWER or
// FENCED_LEADER_EPOCH names its leader and epoch as the metadata has them,
// with the leaders' endpoints in the response (KIP-951), so that clients
// move without a metadata refresh.
//
// A fetch with replica_id >= 0 (v15+: ReplicaState.ReplicaId, with the
// follower's broker epoch) comes from a follower of the partitions it
// names: it is served by replica.Partition.ReadForFollower, records up to
// the leader's LEO through the same sendfile path, or a DivergingEpoch (v12,
// KIP-320) and no records when the follower's log diverges from the
// leader's. A broker epoch older than the one the metadata has for that
// live broker is a fetcher from before the broker restarted:
// NOT_LEADER_OR_FOLLOWER, and the leader records nothing of it (Kafka's
// Replica.updateFetchStateOrThrow). Its long poll waits for LEO to move,
// not HW: as in Kafka's DelayedFetch, an HW change alone does not end it.
// Followers fetch without a session: a replica asking for a new one gets a
// sessionless answer (session id 0: none created), one naming a session id
// FETCH_SESSION_ID_NOT_FOUND.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/netio"
	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
)

func init() {
	register(&api{key: 1, minVersion: 4, maxVersion: 16, servePieces: serveFetch})
}

// fetchRead is one partition's outcome of a read pass.
type fetchRead struct {
	topic     string             // the topic's name ("" for an unknown id)
	partition *replica.Partition // nil when errorCode says why
	errorCode int16
	result    replica.ReadResult // offsets; its Region is moved into records
	records   netio.Piece
	diverging *replica.EpochEnd // a follower's log diverges here: no records
	preferred int32             // a consumer's preferred read replica: no records; -1 none
}

func serveFetch(b *Broker, r *request) ([]netio.Piece, error) {
	req := r.body.(*kmsg.FetchRequest)
	wants, forgotten := fetchWants(req)
	plan := sessionless(wants)
	replicaID, _ := fetchReplica(req)
	switch {
	case replicaID >= 0 && req.SessionID != 0:
		// No session is ever created for a replica.
		plan = fetchPlan{errorCode: kerr.FetchSessionIDNotFound.Code}
	case replicaID < 0 && req.Version >= 7:
		plan = b.sessions.plan(sessionRequest{id: req.SessionID, epoch: req.SessionEpoch, wants: wants,
			forgotten: forgotten, topicIDs: req.Version >= 13}, b.cfg.Now())
	}
	if plan.errorCode != 0 {
		return b.fetchError(r, plan.errorCode), nil
	}
	if limit := b.quotaFetchBytesMax(r); replicaID < 0 && limit > 0 && int64(req.MaxBytes) > limit {
		req.MaxBytes = int32(limit)
	}
	reads := b.readFetch(r.ctx, req, plan.wants, &r.parked)
	sent := make([]fetchSent, len(reads))
	for i, rd := range reads {
		sent[i] = fetchSent{errorCode: rd.errorCode, highWatermark: rd.result.HighWatermark,
			lastStable: rd.result.LastStable, logStartOffset: rd.result.LogStartOffset, recordBytes: rd.records.Len(),
			preferred: rd.preferred >= 0}
	}
	include, code := b.sessions.finish(&plan, sent, b.cfg.Now())
	if code != 0 {
		releaseReads(reads)
		return b.fetchError(r, code), nil
	}
	resp := &fetchResponse{version: req.Version, sessionID: plan.sessionID}
	im := b.ctrl.Image()
	for i, w := range plan.wants {
		if !include[i] {
			releasePiece(reads[i].records)
			continue
		}
		if n := len(resp.topics); n == 0 || resp.topics[n-1].name != w.topic || resp.topics[n-1].id != w.topicID {
			resp.topics = append(resp.topics, fetchTopic{name: w.topic, id: w.topicID})
		}
		t := &resp.topics[len(resp.topics)-1]
		fp := reads[i].answer(w.partition, req.IsolationLevel)
		if req.Version >= 16 && (fp.errorCode == kerr.NotLeaderForPartition.Code || fp.errorCode == kerr.FencedLeaderEpoch.Code) {
			fp.leader, resp.brokers = fetchLeaderHint(im, reads[i].topic, w.partition, resp.brokers)
		}
		t.partitions = append(t.partitions, fp)
		if n := reads[i].records.Len(); b.cfg.Observer != nil && n > 0 {
			b.cfg.Observer.Fetched(reads[i].partition, n)
		}
	}
	if b.cfg.Observer != nil {
		b.observeFetchErrorCodes(r.header.APIKey, resp)
	}
	return resp.pieces(), nil
}

// fetchError answers a Fetch with a request-level error code.
func (b *Broker) fetchError(r *request, code int16) []netio.Piece {
	resp := &fetchResponse{version: r.body.GetVersion(), errorCode: code}
	if b.cfg.Observer != nil {
		b.observeFetchErrorCodes(r.header.APIKey, resp)
	}
	return resp.pieces()
}

// fetchReplica is who sends a fetch: a follower's node id and broker epoch
// (-1 when the request does not say, before v15), or a negative id for a
// consumer.
func fetchReplica(req *kmsg.FetchRequest) (id int32, brokerEpoch int64) {
	if req.Version >= 15 {
		return req.ReplicaState.ID, req.ReplicaState.Epoch
	}
	return req.ReplicaID, -1
}

// fetchWants lists the partitions a request names and the ones it forgets,
// by topic id from v13 on.
func fetchWants(req *kmsg.FetchRequest) (wants []fetchWant, forgotten []fetchKey) {
	key := func(name string, id [16]byte, partition int32) fetchKey {
		if req.Version >= 13 {
			return fetchKey{topicID: id, partition: partition}
		}
		return fetchKey{topic: name, partition: partition}
	}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			leaderEpoch, lastFetchedEpoch := int32(-1), int32(-1)
			if req.Version >= 9 {
				leaderEpoch = p.CurrentLeaderEpoch
			}
			if req.Version >= 12 {
				lastFetchedEpoch = p.LastFetchedEpoch
			}
			wants = append(wants, fetchWant{fetchKey: key(t.Topic, t.TopicID, p.Partition),
				fetchOffset: p.FetchOffset, maxBytes: p.PartitionMaxBytes, currentLeaderEpoch: leaderEpoch,
				lastFetchedEpoch: lastFetchedEpoch})
		}
	}
	for _, t := range req.ForgottenTopics {
		for _, p := range t.Partitions {
			forgotten = append(forgotten, key(t.Topic, t.TopicID, p))
		}
	}
	return wants, forgotten
}

// answer is the response entry for a read.
func (rd *fetchRead) answer(partition int32, isolation int8) fetchPartition {
	fp := fetchPartition{partition: partition, errorCode: rd.errorCode, preferredReplica: rd.preferred,
		highWatermark: -1, lastStable: -1, logStartOffset: -1, records: rd.records, diverging: rd.diverging}
	if rd.errorCode == 0 || rd.errorCode == kerr.OffsetOutOfRange.Code {
		fp.highWatermark, fp.lastStable, fp.logStartOffset = rd.result.HighWatermark, rd.result.LastStable, rd.result.LogStartOffset
	}
	if rd.errorCode == 0 && isolation == 1 {
		fp.aborted = make([]abortedTxn, len(rd.result.Aborted))
		for i, a := range rd.result.Aborted {
			fp.aborted[i] = abortedTxn{producerID: a.ProducerID, firstOffset: a.FirstOffset}
		}
	}
	return fp
}

// readFetch reads every wanted partition and, while fewer than min_bytes
// are readable, long-polls: it waits for any of them to move its readable
// end (HW for consumers, LEO for followers), the deadline or ctx, then
// reads again. It adds the time it waited to parked.
func (b *Broker) readFetch(ctx context.Context, req *kmsg.FetchRequest, wants []fetchWant, parked *time.Duration) []fetchRead {
	reads, readable, settled := b.readPass(req, wants)
	waitMs := min(int64(req.MaxWaitMillis), b.cfg.FetchWaitMsMax)
	if waitMs <= 0 || readable >= int64(req.MinBytes) || settled || len(wants) == 0 {
		return reads
	}
	watch := (*replica.Partition).Watch
	if id, _ := fetchReplica(req); id >= 0 {
		watch = (*replica.Partition).WatchEnd
	}
	moved := make(chan struct{}, 1)
	for _, rd := range reads {
		cancel := watch(rd.partition, moved)
		defer cancel()
	}
	// Read again now that the watches are in place: an append before them
	// shows in this read, one after them in moved.
	releaseReads(reads)
	if reads, readable, settled = b.readPass(req, wants); readable >= int64(req.MinBytes) || settled {
		return reads
	}
	timer := time.NewTimer(time.Duration(waitMs) * time.Millisecond)
	defer timer.Stop()
	for {
		parkedAt := time.Now()
		select {
		case <-moved:
		case <-timer.C:
			*parked += time.Since(parkedAt)
			return reads
		case <-ctx.Done():
			*parked += time.Since(parkedAt)
			return reads
		}
		*parked += time.Since(parkedAt)
		releaseReads(reads)
		reads, readable, settled = b.readPass(req, wants)
		if readable >= int64(req.MinBytes) || settled {
			return reads
		}
	}
}

// readPass reads each partition once within the response's byte budget.
// Like Kafka (KIP-74), the first partition with records gets its first batch
// whole even beyond the limits; once the budget is spent the others get no
// records but still their offsets. It reports the record bytes read and
// whether any partition's answer must go out now (an error or a diverging
// epoch), which ends a long poll.
func (b *Broker) readPass(req *kmsg.FetchRequest, wants []fetchWant) (reads []fetchRead, readable int64, settled bool) {
	budget := int64(req.MaxBytes)
	if b.cfg.FetchBytesMax > 0 {
		budget = min(budget, int64(b.cfg.FetchBytesMax))
	}
	iso := replica.ReadUncommitted
	if req.IsolationLevel == 1 {
		iso = replica.ReadCommitted
	}
	replicaID, brokerEpoch := fetchReplica(req)
	// A consumer that says where it is (v11+) may be sent to, and served
	// by, a follower when a selector is configured (KIP-392).
	nearest := replicaID < 0 && req.Version >= 11 && b.cfg.ReplicaSelector != SelectorLeader
	im := b.ctrl.Image()
	reads = make([]fetchRead, len(wants))
	minOneBatch := true
	for i, w := range wants {
		rd := &reads[i]
		rd.topic, rd.preferred = w.topic, -1
		if req.Version >= 13 {
			rd.topic = ""
			if t := im.TopicByID(w.topicID); t != nil {
				rd.topic = t.Name
			}
		}
		maxBytes := int32(max(min(int64(w.maxBytes), budget), 0))
		if rd.topic == "" && req.Version >= 13 {
			rd.errorCode = kerr.UnknownTopicID.Code
		} else {
			rd.partition, rd.errorCode = b.hostedPartition(rd.topic, w.partition, !nearest)
		}
		switch {
		case rd.errorCode != 0:
		case replicaID >= 0:
			b.readFollower(rd, im, ids.NodeID(replicaID), brokerEpoch, w, maxBytes, minOneBatch)
		case nearest:
			b.readNearest(rd, im, req.Rack, w, maxBytes, iso, minOneBatch)
		default:
			res, err := rd.partition.Read(w.fetchOffset, maxBytes, iso, minOneBatch, w.currentLeaderEpoch)
			b.takeRead(rd, w, res, err)
		}
		if rd.errorCode != 0 {
			rd.partition, settled = nil, true
			continue
		}
		settled = settled || rd.diverging != nil || rd.preferred >= 0
		n := rd.records.Len()
		readable += n
		budget -= n
		if n > 0 {
			minOneBatch = false
		}
	}
	return reads, readable, settled
}

// readNearest reads one partition into rd for a consumer in rack that may
// read from any replica: on the leader, when the selector prefers another
// replica, only the offsets and that replica's id; otherwise records up to
// this replica's HW, leader or follower.
func (b *Broker) readNearest(rd *fetchRead, im *quorum.Image, rack string, w fetchWant, maxBytes int32, iso replica.Isolation, minOneBatch bool) {
	p := rd.partition
	if err := p.CheckLeaderEpoch(w.currentLeaderEpoch); err != nil {
		rd.errorCode = b.errorCode(err)
		return
	}
	if rd.preferred = preferredReadReplica(im, b.cfg.NodeID, p, rack, w.fetchOffset); rd.preferred >= 0 {
		rd.result = replica.ReadResult{HighWatermark: p.HighWatermark(), LastStable: p.LastStableOffset(),
			LogStartOffset: p.Log().LogStartOffset()}
		return
	}
	res, err := p.ReadNearest(w.fetchOffset, maxBytes, iso, minOneBatch, w.currentLeaderEpoch)
	b.takeRead(rd, w, res, err)
}

// readFollower reads one partition into rd for the follower replica: its
// fetch offset is its LEO, which the leader records. A broker epoch below
// the one im has for that live broker is refused and not recorded.
func (b *Broker) readFollower(rd *fetchRead, im *quorum.Image, follower ids.NodeID, brokerEpoch int64, w fetchWant, maxBytes int32, minOneBatch bool) {
	if br, ok := im.Broker(int32(follower)); brokerEpoch != -1 && ok && !br.Fenced && br.Epoch > brokerEpoch {
		rd.errorCode = kerr.NotLeaderForPartition.Code
		return
	}
	res, err := rd.partition.ReadForFollower(replica.FollowerFetch{
		Replica:            follower,
		BrokerEpoch:        brokerEpoch,
		CurrentLeaderEpoch: ids.Epoch(w.currentLeaderEpoch),
		FetchOffset:        ids.Offset(w.fetchOffset),
		LastFetchedEpoch:   ids.Epoch(w.lastFetchedEpoch),
		MaxBytes:           maxBytes,
		MinOneBatch:        minOneBatch,
	}, b.cfg.Now())
	if err == nil {
		rd.diverging = res.Diverging
	}
	b.takeRead(rd, w, res.ReadResult, err)
}

// takeRead fills rd with a read's outcome: the records as a piece and the
// offsets, or the error code.
func (b *Broker) takeRead(rd *fetchRead, w fetchWant, res replica.ReadResult, err error) {
	if errors.Is(err, segment.ErrOffsetOutOfRange) {
		// Tell the fetcher where the log is, to reset its position.
		hw := rd.partition.HighWatermark()
		rd.result = replica.ReadResult{HighWatermark: hw, LastStable: rd.partition.LastStableOffset(),
			LogStartOffset: rd.partition.Log().LogStartOffset()}
	}
	if err != nil {
		rd.errorCode = b.errorCode(err)
		return
	}
	rd.result = res
	rd.records, err = regionPiece(res.Region)
	rd.result.Region = segment.Region{}
	if err != nil {
		rd.errorCode = b.errorCode(fmt.Errorf("fetch %s-%d at %d: %w", w.topic, w.partition, w.fetchOffset, err))
	}
}

// regionPiece turns a region into a response piece that releases it once
// sent. A region not backed by an OS file (memory filesystem) is copied.
func regionPiece(reg segment.Region) (netio.Piece, error) {
	if reg.Len == 0 {
		reg.Release()
		return netio.Piece{}, nil
	}
	if f := reg.File.OS(); f != nil {
		return netio.Piece{File: f, Offset: reg.Pos, Length: reg.Len, Release: reg.Release}, nil
	}
	defer reg.Release()
	buf := make([]byte, reg.Len)
	if _, err := reg.File.ReadAt(buf, reg.Pos); err != nil {
		return netio.Piece{}, fmt.Errorf("copy region [%d, +%d) of %s: %w", reg.Pos, reg.Len, reg.File.Name(), err)
	}
	return netio.Piece{Bytes: buf}, nil
}

func releasePiece(p netio.Piece) {
	if p.Release != nil {
		p.Release()
	}
}

func releaseReads(reads []fetchRead) {
	for _, rd := range reads {
		releasePiece(rd.records)
	}
}

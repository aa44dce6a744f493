package kafka

// Fetch v4-12: records of each partition as file regions (sendfile), with
// KIP-227 incremental sessions (v7+) and a long poll on max_wait_ms and
// min_bytes. The response is encoded by hand (fetch_encode.go).
//
// A fetch with replica_id >= 0 comes from a follower of the partitions it
// names: it is served by replica.Partition.ReadForFollower, records up to
// the leader's LEO through the same sendfile path, or a DivergingEpoch (v12,
// KIP-320) and no records when the follower's log diverges from the
// leader's. Its long poll waits for LEO to move, not HW: as in Kafka's
// DelayedFetch, an HW change alone does not end it. Followers fetch without
// a session (session id 0): a replica asking for one gets a sessionless
// answer, which tells it none was created.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/netio"
	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
)

func init() {
	register(&api{key: 1, minVersion: 4, maxVersion: 12, servePieces: serveFetch})
}

// fetchRead is one partition's outcome of a read pass.
type fetchRead struct {
	partition *replica.Partition // nil when errorCode says why
	errorCode int16
	result    replica.ReadResult // offsets; its Region is moved into records
	records   netio.Piece
	diverging *replica.EpochEnd // a follower's log diverges here: no records
}

func serveFetch(b *Broker, r *request) ([]netio.Piece, error) {
	req := r.body.(*kmsg.FetchRequest)
	wants, forgotten := fetchWants(req)
	plan := sessionless(wants)
	switch {
	case req.ReplicaID >= 0 && req.SessionID != 0:
		// No session is ever created for a replica.
		plan = fetchPlan{errorCode: kerr.FetchSessionIDNotFound.Code}
	case req.ReplicaID < 0 && req.Version >= 7:
		plan = b.sessions.plan(sessionRequest{id: req.SessionID, epoch: req.SessionEpoch, wants: wants, forgotten: forgotten}, b.cfg.Now())
	}
	if plan.errorCode != 0 {
		return b.fetchError(r, plan.errorCode), nil
	}
	reads := b.readFetch(r.ctx, req, plan.wants)
	sent := make([]fetchSent, len(reads))
	for i, rd := range reads {
		sent[i] = fetchSent{errorCode: rd.errorCode, highWatermark: rd.result.HighWatermark,
			lastStable: rd.result.LastStable, logStartOffset: rd.result.LogStartOffset, recordBytes: rd.records.Len()}
	}
	include, code := b.sessions.finish(&plan, sent, b.cfg.Now())
	if code != 0 {
		releaseReads(reads)
		return b.fetchError(r, code), nil
	}
	resp := &fetchResponse{version: req.Version, sessionID: plan.sessionID}
	for i, w := range plan.wants {
		if !include[i] {
			releasePiece(reads[i].records)
			continue
		}
		if n := len(resp.topics); n == 0 || resp.topics[n-1].name != w.topic {
			resp.topics = append(resp.topics, fetchTopic{name: w.topic})
		}
		t := &resp.topics[len(resp.topics)-1]
		t.partitions = append(t.partitions, reads[i].answer(w.partition, req.IsolationLevel))
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

// fetchWants lists the partitions a request names and the ones it forgets.
func fetchWants(req *kmsg.FetchRequest) (wants []fetchWant, forgotten []topicPartition) {
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			leaderEpoch, lastFetchedEpoch := int32(-1), int32(-1)
			if req.Version >= 9 {
				leaderEpoch = p.CurrentLeaderEpoch
			}
			if req.Version >= 12 {
				lastFetchedEpoch = p.LastFetchedEpoch
			}
			wants = append(wants, fetchWant{topicPartition: topicPartition{t.Topic, p.Partition},
				fetchOffset: p.FetchOffset, maxBytes: p.PartitionMaxBytes, currentLeaderEpoch: leaderEpoch,
				lastFetchedEpoch: lastFetchedEpoch})
		}
	}
	for _, t := range req.ForgottenTopics {
		for _, p := range t.Partitions {
			forgotten = append(forgotten, topicPartition{t.Topic, p})
		}
	}
	return wants, forgotten
}

// answer is the response entry for a read.
func (rd *fetchRead) answer(partition int32, isolation int8) fetchPartition {
	fp := fetchPartition{partition: partition, errorCode: rd.errorCode, preferredReplica: -1,
		highWatermark: -1, lastStable: -1, logStartOffset: -1, records: rd.records, diverging: rd.diverging}
	if rd.errorCode == 0 || rd.errorCode == kerr.OffsetOutOfRange.Code {
		fp.highWatermark, fp.lastStable, fp.logStartOffset = rd.result.HighWatermark, rd.result.LastStable, rd.result.LogStartOffset
	}
	if rd.errorCode == 0 && isolation == 1 {
		fp.aborted = []abortedTxn{} // no transactions yet: none aborted
	}
	return fp
}

// readFetch reads every wanted partition and, while fewer than min_bytes
// are readable, long-polls: it waits for any of them to move its readable
// end (HW for consumers, LEO for followers), the deadline or ctx, then
// reads again.
func (b *Broker) readFetch(ctx context.Context, req *kmsg.FetchRequest, wants []fetchWant) []fetchRead {
	reads, readable, settled := b.readPass(req, wants)
	waitMs := min(int64(req.MaxWaitMillis), b.cfg.FetchWaitMsMax)
	if waitMs <= 0 || readable >= int64(req.MinBytes) || settled || len(wants) == 0 {
		return reads
	}
	watch := (*replica.Partition).Watch
	if req.ReplicaID >= 0 {
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
		select {
		case <-moved:
		case <-timer.C:
			return reads
		case <-ctx.Done():
			return reads
		}
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
	reads = make([]fetchRead, len(wants))
	minOneBatch := true
	for i, w := range wants {
		rd := &reads[i]
		rd.partition, rd.errorCode = b.leaderPartition(w.topic, w.partition)
		maxBytes := int32(max(min(int64(w.maxBytes), budget), 0))
		switch {
		case rd.errorCode != 0:
		case req.ReplicaID >= 0:
			b.readFollower(rd, ids.NodeID(req.ReplicaID), w, maxBytes, minOneBatch)
		default:
			b.readPartition(rd, w, maxBytes, iso, minOneBatch)
		}
		if rd.errorCode != 0 {
			rd.partition, settled = nil, true
			continue
		}
		settled = settled || rd.diverging != nil
		n := rd.records.Len()
		readable += n
		budget -= n
		if n > 0 {
			minOneBatch = false
		}
	}
	return reads, readable, settled
}

// readPartition reads one partition into rd for a consumer.
func (b *Broker) readPartition(rd *fetchRead, w fetchWant, maxBytes int32, iso replica.Isolation, minOneBatch bool) {
	res, err := rd.partition.Read(w.fetchOffset, maxBytes, iso, minOneBatch, w.currentLeaderEpoch)
	b.takeRead(rd, w, res, err)
}

// readFollower reads one partition into rd for the follower replica: its
// fetch offset is its LEO, which the leader records.
func (b *Broker) readFollower(rd *fetchRead, follower ids.NodeID, w fetchWant, maxBytes int32, minOneBatch bool) {
	res, err := rd.partition.ReadForFollower(replica.FollowerFetch{
		Replica:            follower,
		BrokerEpoch:        -1, // carried from Fetch v15 on
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

package kafka

// ListOffsets v0-7: the offset for a timestamp per partition (v0: up to
// MaxNumOffsets segment boundaries, see legacyOffsets): -2 the log
// start, -1 the end (high watermark; last stable offset for read_committed;
// log end offset for a replica), -3 (v7) the record with the largest
// timestamp, otherwise the first record whose timestamp is >= the target.
// A partition named twice in one request is answered INVALID_REQUEST.
//
// A new leader whose HW still lags the start of its epoch does not know
// where its committed records end: as in Kafka, a consumer asking for the
// end, or for a timestamp with no answer below HW, gets
// OFFSET_NOT_AVAILABLE (retriable) until HW catches up.

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
)

func init() {
	register(&api{key: 2, minVersion: 0, maxVersion: 7, serve: serveListOffsets})
}

// Special ListOffsets timestamps.
const (
	timestampLatest   = -1
	timestampEarliest = -2
	timestampMax      = -3
)

func serveListOffsets(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	named := map[topicPartition]int{}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			named[topicPartition{t.Topic, p.Partition}]++
		}
	}
	for _, t := range req.Topics {
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		for i := range t.Partitions {
			rp := &t.Partitions[i]
			out := kmsg.NewListOffsetsResponseTopicPartition()
			out.Partition = rp.Partition
			if named[topicPartition{t.Topic, rp.Partition}] > 1 {
				out.ErrorCode = kerr.InvalidRequest.Code
			} else {
				b.listOffset(req, t.Topic, rp, &out)
			}
			rt.Partitions = append(rt.Partitions, out)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// listOffset answers one partition into out (which starts as -1/-1/-1).
func (b *Broker) listOffset(req *kmsg.ListOffsetsRequest, topic string, rp *kmsg.ListOffsetsRequestTopicPartition, out *kmsg.ListOffsetsResponseTopicPartition) {
	p, code := b.leaderPartition(topic, rp.Partition)
	if code == 0 && req.Version >= 4 {
		code = b.errorCode(p.CheckLeaderEpoch(rp.CurrentLeaderEpoch))
	}
	if code != 0 {
		out.ErrorCode = code
		return
	}
	if req.Version == 0 {
		out.OldStyleOffsets = b.legacyOffsets(p, req.ReplicaID, rp)
		return
	}
	log := p.Log()
	// Consumers see up to HW (LSO for read_committed); replicas and the
	// debugging consumer (-2) up to LEO.
	end := log.LogEndOffset()
	notAvailable := false
	if req.ReplicaID == -1 {
		end = p.HighWatermark()
		if req.IsolationLevel == 1 {
			end = p.LastStableOffset()
		}
		notAvailable = hwBelowEpochStart(p)
	}
	var offset, timestamp int64
	var found bool
	var err error
	switch rp.Timestamp {
	case timestampLatest:
		if notAvailable {
			out.ErrorCode = kerr.OffsetNotAvailable.Code
			return
		}
		out.Offset, out.LeaderEpoch = end, p.LeaderEpoch()
		return
	case timestampEarliest:
		offset, timestamp, found = log.LogStartOffset(), -1, true
	case timestampMax:
		offset, timestamp = log.MaxTimestamp()
		found = offset >= 0
	default:
		offset, timestamp, found, err = log.OffsetForTimestamp(rp.Timestamp)
	}
	switch {
	case err == nil && found && (rp.Timestamp == timestampEarliest || offset < end):
		out.LeaderEpoch, err = batchLeaderEpoch(p, offset)
		out.Offset, out.Timestamp = offset, timestamp
	case err == nil && notAvailable && rp.Timestamp != timestampEarliest:
		out.ErrorCode = kerr.OffsetNotAvailable.Code
		return
	}
	if err != nil {
		out.Offset, out.Timestamp, out.LeaderEpoch = -1, -1, -1
		out.ErrorCode = b.errorCode(err)
	}
}

// errBatchFound stops a batch scan at the first batch.
var errBatchFound = errors.New("batch found")

// batchLeaderEpoch is the leader epoch of the batch holding offset, as
// Kafka answers; the partition's current epoch when no batch holds it (an
// empty log).
func batchLeaderEpoch(p *replica.Partition, offset int64) (int32, error) {
	epoch := p.LeaderEpoch()
	err := p.Log().ScanBatches(offset, func(h segment.BatchHeader) error {
		if h.BaseOffset <= offset {
			epoch = h.PartitionLeaderEpoch
		}
		return errBatchFound
	})
	if err != nil && !errors.Is(err, errBatchFound) {
		return -1, err
	}
	return epoch, nil
}

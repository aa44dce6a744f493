package kafka

// Produce v0-12. Only v3+ carries magic-2 batches; v0-2 are registered
// because librdkafka turns compression off when the broker does not
// advertise Produce from v0, and are answered UNSUPPORTED_FOR_MESSAGE_FORMAT
// for every partition.
//
// Validation follows Kafka's leader. A request whose records are not exactly
// one v2 batch, or whose batch a client may not write (a base offset other
// than 0, a control batch, an idempotent batch without a sequence, for a
// compacted topic a record without a key: each such record is named in
// the answer's record errors), is
// INVALID_RECORD: the producer built it wrong and a retry cannot help. A
// batch that fails its length or CRC check is CORRUPT_MESSAGE (a retriable
// code: the bytes may have been damaged on the way). The first
// transactional batch of a transaction in a partition is verified with the
// transaction's coordinator first (KIP-890 part 1, txn_verify.go), or
// from v12, whose producers send no AddPartitionsToTxn (KIP-890 part 2),
// added to the transaction by it.
// Produce never creates a topic (Kafka creates on Metadata only): an
// unknown topic is UNKNOWN_TOPIC_OR_PARTITION and clients retry after
// refreshing metadata. Internal topics (__consumer_offsets,
// __cluster_metadata) are the broker's own: a client's batch for one is
// INVALID_TOPIC_EXCEPTION, as in Kafka.
//
// acks=all waits as Kafka's DelayedProduce does: every partition of the
// request is appended first, then the request waits until each one's HW
// covers its batch, up to the request's timeout_ms. A partition whose wait
// fails keeps its base offset in the answer (the batch is in the log and
// may still commit) with NOT_ENOUGH_REPLICAS_AFTER_APPEND (the ISR shrank
// below min.insync.replicas), NOT_LEADER_OR_FOLLOWER (leadership lost) or
// REQUEST_TIMED_OUT. acks=0 and acks=1 answer once appended.
//
// NOT_LEADER_OR_FOLLOWER carries the leader this broker knows of (KIP-951,
// v10+): CurrentLeader per partition and the leaders' endpoints in
// NodeEndpoints, so that clients move without a metadata refresh.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
	"github.com/riffle/riffle/segment/codec"
)

func init() {
	register(&api{key: 0, minVersion: 0, maxVersion: 12, serve: serveProduce})
}

// errAcksZeroFailed closes the connection of an acks=0 producer whose
// request failed somewhere, as Kafka does: it gets no response, and the
// closed connection makes it refresh its metadata.
var errAcksZeroFailed = errors.New("kafka: acks=0 produce failed")

// replicationWait is an acks=all partition appended and waiting for its
// replicas: where its answer is in the response and the offset HW must
// reach.
type replicationWait struct {
	topic, partition int
	p                *replica.Partition
	required         ids.Offset
}

func serveProduce(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	var waits []replicationWait
	for ti, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		for pi, rp := range rt.Partitions {
			sp, p, required := b.producePartition(req, rt.Topic, rp)
			st.Partitions = append(st.Partitions, sp)
			if p != nil && req.Acks == -1 {
				waits = append(waits, replicationWait{topic: ti, partition: pi, p: p, required: required})
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(waits) > 0 {
		parkedAt := time.Now()
		b.awaitReplication(r.ctx, parkedAt, req, resp, waits)
		r.parked += time.Since(parkedAt)
	}
	failed := false
	for ti := range resp.Topics {
		st := &resp.Topics[ti]
		for pi := range st.Partitions {
			sp := &st.Partitions[pi]
			failed = failed || sp.ErrorCode != 0
			if sp.ErrorCode == kerr.NotLeaderForPartition.Code && req.Version >= 10 {
				b.leaderHint(st.Topic, sp, resp)
			}
		}
	}
	if req.Acks == 0 {
		if failed {
			return nil, errAcksZeroFailed
		}
		return nil, nil
	}
	return resp, nil
}

// awaitReplication waits, within the request's timeout, until each appended
// partition's HW covers its batch, and sets the error code of those that do
// not get there. The waits share one deadline, so waiting for them in turn
// takes no longer than waiting for all at once.
func (b *Broker) awaitReplication(ctx context.Context, now time.Time, req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse, waits []replicationWait) {
	deadline := now.Add(time.Duration(max(req.TimeoutMillis, 0)) * time.Millisecond)
	for _, w := range waits {
		if err := w.p.WaitReplicatedUntil(ctx, deadline, w.required); err != nil {
			sp := &resp.Topics[w.topic].Partitions[w.partition]
			sp.ErrorCode, sp.ErrorMessage = b.errorCode(err), errorMessage(err)
		}
	}
}

// leaderHint fills a NOT_LEADER_OR_FOLLOWER answer with the partition's
// leader and epoch from the metadata, and adds the leader's endpoint to the
// response once (KIP-951). An unknown leader is -1/-1 with no endpoint.
func (b *Broker) leaderHint(topic string, sp *kmsg.ProduceResponseTopicPartition, resp *kmsg.ProduceResponse) {
	hint, br, ok := currentLeader(b.ctrl.Image(), topic, sp.Partition)
	if !ok {
		return
	}
	sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = hint.id, hint.epoch
	if br == nil || slices.ContainsFunc(resp.Brokers, func(n kmsg.ProduceResponseBroker) bool { return n.NodeID == br.ID }) {
		return
	}
	n := kmsg.NewProduceResponseBroker()
	n.NodeID, n.Host, n.Port = br.ID, br.Host, br.Port
	if br.Rack != "" {
		n.Rack = &br.Rack
	}
	resp.Brokers = append(resp.Brokers, n)
}

// producePartition validates and appends one partition's batch and returns
// its answer; for a batch appended, also the partition and the offset HW
// must reach to acknowledge it with acks=all. The batch is a subslice of
// the request frame: it is appended before ServeFrame returns, after which
// the frame is reused.
func (b *Broker) producePartition(req *kmsg.ProduceRequest, topic string, rp kmsg.ProduceRequestTopicPartition) (kmsg.ProduceResponseTopicPartition, *replica.Partition, ids.Offset) {
	sp := kmsg.NewProduceResponseTopicPartition()
	sp.Partition = rp.Partition
	sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
	fail := func(code int16, err error) (kmsg.ProduceResponseTopicPartition, *replica.Partition, ids.Offset) {
		sp.ErrorCode = code
		if err != nil {
			sp.ErrorMessage = errorMessage(err)
			var named interface {
				errorRecords() []kmsg.ProduceResponseTopicPartitionErrorRecord
			}
			if errors.As(err, &named) {
				sp.ErrorRecords = named.errorRecords()
			}
		}
		return sp, nil, 0
	}
	switch {
	case req.Version < 3:
		return fail(kerr.UnsupportedForMessageFormat.Code, nil)
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		return fail(kerr.InvalidRequiredAcks.Code, nil)
	case b.internalTopic(topic):
		// Only the broker writes them (Kafka's ReplicaManager.appendToLocalLog).
		return fail(kerr.InvalidTopicException.Code, fmt.Errorf("cannot append to internal topic %s", topic))
	}
	p, code := b.leaderPartition(topic, rp.Partition)
	if code != 0 {
		return fail(code, nil)
	}
	cfg := p.Log().Config()
	batch, err := validateProduceBatch(rp.Records, cfg.BatchBytesMax, req.Version, b.cfg.CompressionValidation, cfg.Compact)
	if err != nil {
		return fail(b.errorCode(err), err)
	}
	if code := b.verifyTxnWrite(req, topic, rp.Partition, p, rp.Records); code != 0 {
		return fail(code, nil)
	}
	res, err := p.AppendAsLeader(batch, req.Acks, -1)
	if err != nil {
		return fail(b.errorCode(err), err)
	}
	sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
	if b.cfg.Observer != nil && !res.Duplicate {
		b.cfg.Observer.Produced(p, int64(len(rp.Records)), res.LastOffset-res.BaseOffset+1)
	}
	// A retried duplicate waits too: its first attempt may not be
	// replicated yet.
	return sp, p, ids.Offset(res.LastOffset + 1)
}

// internalTopic reports whether topic is one only the broker writes: the
// metadata log, or a topic the image marks internal (__consumer_offsets).
func (b *Broker) internalTopic(topic string) bool {
	if topic == quorum.MetadataTopic {
		return true
	}
	t := b.ctrl.Image().Topic(topic)
	return t != nil && t.Internal
}

// validateProduceBatch checks what a producer sends for one partition:
// exactly one v2 batch, sound (segment.ValidateBatch, within
// max.message.bytes), one a client may write, with well-formed records,
// each with a key when compacted (cleanup.policy has compact). It is the
// one place the batch's header is parsed and its CRC computed.
func validateProduceBatch(records []byte, batchBytesMax int32, version int16, decompress, compacted bool) (segment.Batch, error) {
	if len(records) == 0 {
		return segment.Batch{}, fmt.Errorf("%w: no record batch", kerr.InvalidRecord)
	}
	batch, err := segment.ValidateBatch(records, batchBytesMax)
	if err != nil {
		return segment.Batch{}, err
	}
	h := batch.Header()
	switch {
	case h.BaseOffset != 0:
		return segment.Batch{}, fmt.Errorf("%w: base offset %d, a producer's must be 0", kerr.InvalidRecord, h.BaseOffset)
	case h.Attributes&segment.AttrControl != 0:
		return segment.Batch{}, fmt.Errorf("%w: clients may not write control batches", kerr.InvalidRecord)
	case h.ProducerID >= 0 && h.BaseSequence < 0:
		return segment.Batch{}, fmt.Errorf("%w: producer id %d without a sequence number", kerr.InvalidRecord, h.ProducerID)
	case h.Compression() == codec.Zstd && version < 7:
		return segment.Batch{}, fmt.Errorf("%w: zstd needs Produce v7+, got v%d", kerr.UnsupportedCompressionType, version)
	}
	if err := validateRecords(batch, batchBytesMax, decompress, compacted); err != nil {
		return segment.Batch{}, err
	}
	return batch, nil
}

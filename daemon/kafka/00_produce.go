package kafka

// Produce v0-11. Only v3+ carries magic-2 batches; v0-2 are registered
// because librdkafka turns compression off when the broker does not
// advertise Produce from v0, and are answered UNSUPPORTED_FOR_MESSAGE_FORMAT
// for every partition.
//
// Validation follows Kafka's leader. A request whose records are not exactly
// one v2 batch, or whose batch a client may not write (a base offset other
// than 0, a control batch, an idempotent batch without a sequence), is
// INVALID_RECORD: the producer built it wrong and a retry cannot help. A
// batch that fails its length or CRC check is CORRUPT_MESSAGE (a retriable
// code: the bytes may have been damaged on the way). Transactional batches
// are refused with INVALID_TXN_STATE (replica.ErrTransactionsUnsupported):
// no transaction can have begun, since InitProducerId refuses transactional
// ids. Produce never creates a topic (Kafka creates on Metadata only): an
// unknown topic is UNKNOWN_TOPIC_OR_PARTITION and clients retry after
// refreshing metadata.

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/segment"
	"github.com/riffle/riffle/segment/codec"
)

func init() {
	register(&api{key: 0, minVersion: 0, maxVersion: 11, serve: serveProduce})
}

// errAcksZeroFailed closes the connection of an acks=0 producer whose
// request failed somewhere, as Kafka does: it gets no response, and the
// closed connection makes it refresh its metadata.
var errAcksZeroFailed = errors.New("kafka: acks=0 produce failed")

func serveProduce(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	failed := false
	// Partitions go one after the other: with acks=-1 each waits for its
	// replicas before the next is appended.
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := b.producePartition(req, rt.Topic, rp)
			failed = failed || sp.ErrorCode != 0
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Acks == 0 {
		if failed {
			return nil, errAcksZeroFailed
		}
		return nil, nil
	}
	return resp, nil
}

// producePartition validates and appends one partition's batch. The batch
// is a subslice of the request frame: it is appended before ServeFrame
// returns, after which the frame is reused.
func (b *Broker) producePartition(req *kmsg.ProduceRequest, topic string, rp kmsg.ProduceRequestTopicPartition) kmsg.ProduceResponseTopicPartition {
	sp := kmsg.NewProduceResponseTopicPartition()
	sp.Partition = rp.Partition
	sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
	fail := func(code int16, err error) kmsg.ProduceResponseTopicPartition {
		sp.ErrorCode = code
		if err != nil {
			sp.ErrorMessage = errorMessage(err)
			var re *recordError
			if errors.As(err, &re) && re.index >= 0 {
				sp.ErrorRecords = []kmsg.ProduceResponseTopicPartitionErrorRecord{{RelativeOffset: re.index, ErrorMessage: &re.msg}}
			}
		}
		return sp
	}
	switch {
	case req.Version < 3:
		return fail(kerr.UnsupportedForMessageFormat.Code, nil)
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		return fail(kerr.InvalidRequiredAcks.Code, nil)
	}
	p, code := b.leaderPartition(topic, rp.Partition)
	if code != 0 {
		return fail(code, nil)
	}
	err := validateProduceBatch(rp.Records, p.Log().Config().BatchBytesMax, req.Version, b.cfg.CompressionValidation)
	if err != nil {
		return fail(b.errorCode(err), err)
	}
	res, err := p.AppendAsLeader(rp.Records, req.Acks, -1)
	if err != nil {
		return fail(b.errorCode(err), err)
	}
	sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
	if b.cfg.Observer != nil && !res.Duplicate {
		b.cfg.Observer.Produced(p, int64(len(rp.Records)), res.LastOffset-res.BaseOffset+1)
	}
	return sp
}

// validateProduceBatch checks what a producer sends for one partition:
// exactly one v2 batch, sound (segment.ValidateBatch, within
// max.message.bytes), one a client may write, with well-formed records.
func validateProduceBatch(records []byte, batchBytesMax int32, version int16, decompress bool) error {
	if len(records) == 0 {
		return fmt.Errorf("%w: no record batch", kerr.InvalidRecord)
	}
	if len(records) >= segment.BatchHeaderSize {
		h, _ := segment.ParseBatchHeader(records)
		if h.Magic != 2 {
			return fmt.Errorf("%w: batch magic %d: Produce v3+ carries magic 2 batches only", kerr.InvalidRecord, h.Magic)
		}
		if size := h.Size(); size >= segment.BatchHeaderSize && size < int64(len(records)) {
			return fmt.Errorf("%w: %d bytes after the first batch: one batch per partition", kerr.InvalidRecord, int64(len(records))-size)
		}
	}
	h, err := segment.ValidateBatch(records, batchBytesMax)
	if err != nil {
		return err
	}
	switch {
	case h.BaseOffset != 0:
		return fmt.Errorf("%w: base offset %d, a producer's must be 0", kerr.InvalidRecord, h.BaseOffset)
	case h.Attributes&segment.AttrControl != 0:
		return fmt.Errorf("%w: clients may not write control batches", kerr.InvalidRecord)
	case h.ProducerID >= 0 && h.BaseSequence < 0:
		return fmt.Errorf("%w: producer id %d without a sequence number", kerr.InvalidRecord, h.ProducerID)
	case h.Compression() == codec.Zstd && version < 7:
		return fmt.Errorf("%w: zstd needs Produce v7+, got v%d", kerr.UnsupportedCompressionType, version)
	}
	return validateRecords(h, records, batchBytesMax, decompress)
}

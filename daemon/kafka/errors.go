package kafka

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
	"github.com/riffle/riffle/segment/codec"
)

// errorCodes maps the sentinel errors of the layers below to Kafka error
// codes, in the order they are tested. This is the one place codes are
// chosen for errors that come from below.
var errorCodes = []struct {
	err  error
	code int16
}{
	{segment.ErrOffsetOutOfRange, kerr.OffsetOutOfRange.Code},
	{segment.ErrBatchTooLarge, kerr.MessageTooLarge.Code},
	// A batch of another format, or more than one batch: the producer
	// built it wrong, a retry cannot help (before ErrCorruptBatch, which
	// they wrap).
	{segment.ErrUnsupportedMagic, kerr.InvalidRecord.Code},
	{segment.ErrTrailingBytes, kerr.InvalidRecord.Code},
	{segment.ErrCorruptBatch, kerr.CorruptMessage.Code},
	{segment.ErrClosed, kerr.NotLeaderForPartition.Code}, // the partition was just closed or deleted
	{segment.ErrNoSpace, kerr.KafkaStorageError.Code},    // disk full: nothing appended, retriable
	{segment.ErrFailed, kerr.KafkaStorageError.Code},     // the log refuses appends after an I/O error
	{replica.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber.Code},
	{replica.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch.Code},
	{replica.ErrCoordinatorFenced, kerr.TransactionCoordinatorFenced.Code},
	{replica.ErrNotLeader, kerr.NotLeaderForPartition.Code},
	{replica.ErrFencedLeaderEpoch, kerr.FencedLeaderEpoch.Code},
	{replica.ErrUnknownLeaderEpoch, kerr.UnknownLeaderEpoch.Code},
	{replica.ErrNotEnoughReplicas, kerr.NotEnoughReplicas.Code},
	{replica.ErrNotEnoughReplicasAfterAppend, kerr.NotEnoughReplicasAfterAppend.Code},
	{replica.ErrClosed, kerr.NotLeaderForPartition.Code},
	{errInvalidRecord, kerr.InvalidRecord.Code},
	{codec.ErrCorrupt, kerr.CorruptMessage.Code},
	{codec.ErrUnsupported, kerr.UnsupportedCompressionType.Code},
	{quorum.ErrTopicExists, kerr.TopicAlreadyExists.Code},
	{quorum.ErrUnknownTopic, kerr.UnknownTopicOrPartition.Code},
	{quorum.ErrInvalidTopic, kerr.InvalidTopicException.Code},
	{quorum.ErrInvalidPartitions, kerr.InvalidPartitions.Code},
	{quorum.ErrPolicyViolation, kerr.PolicyViolation.Code},
	{quorum.ErrInvalidReplicationFactor, kerr.InvalidReplicationFactor.Code},
	{quorum.ErrInvalidConfig, kerr.InvalidConfig.Code},
	{quorum.ErrUnknownConfig, kerr.InvalidConfig.Code},
	{quorum.ErrNotController, kerr.NotController.Code},
	// An acks=all produce that outlived its request timeout, or whose
	// connection closed while it waited: appended, not yet replicated.
	{context.DeadlineExceeded, kerr.RequestTimedOut.Code},
	{context.Canceled, kerr.RequestTimedOut.Code},
}

// errorCode returns the Kafka error code for err (0 for nil). An error
// without a mapping is a server fault: it is logged and answered
// UNKNOWN_SERVER_ERROR.
func (b *Broker) errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	for _, m := range errorCodes {
		if errors.Is(err, m.err) {
			return m.code
		}
	}
	b.log.Error("kafka: unmapped error", "err", err)
	return kerr.UnknownServerError.Code
}

// errorMessage is the optional message for responses that carry one.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon/group"
	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
)

// verifyTimeout bounds a produce's wait for its transaction's coordinator.
const verifyTimeout = 5 * time.Second

// verifyTxnWrite is KIP-890: before the first transactional batch of a
// producer's transaction is appended to a partition, the transaction's
// coordinator must confirm that the partition is in the producer's
// ongoing transaction (part 1: the producer added it; Produce up to v11)
// or add it (part 2, transaction version 2: Produce v12+, whose producer
// sends no AddPartitionsToTxn). A batch arriving after its transaction
// ended (a late retry, a zombie) would otherwise open a transaction
// nobody ends, holding the LSO back for good (a hanging transaction); in
// part 2 its epoch is older than the bumped one of the transaction's end
// and it is fenced. It returns 0 or the error code to answer: a
// partition not in the transaction is INVALID_TXN_STATE, a fenced
// producer INVALID_PRODUCER_EPOCH, and a coordinator that cannot answer
// now NOT_ENOUGH_REPLICAS, which producers retry (as Kafka answers).
func (b *Broker) verifyTxnWrite(req *kmsg.ProduceRequest, topic string, partition int32, p *replica.Partition, batch []byte) int16 {
	h, err := segment.ParseBatchHeader(batch)
	if err != nil || h.Attributes&segment.AttrTransactional == 0 {
		return 0
	}
	if p.InTransaction(h.ProducerID, h.ProducerEpoch) {
		return 0
	}
	if b.cfg.Txns == nil || req.TransactionID == nil || *req.TransactionID == "" {
		return kerr.InvalidTxnState.Code // no coordinator could have begun it
	}
	ctx, cancel := context.WithTimeout(context.Background(), verifyTimeout)
	defer cancel()
	var code int16
	if req.Version >= 12 {
		code, err = b.cfg.Txns.AddImplicit(ctx, *req.TransactionID, h.ProducerID, h.ProducerEpoch, topic, partition)
	} else {
		code, err = b.cfg.Txns.Verify(ctx, *req.TransactionID, h.ProducerID, h.ProducerEpoch, topic, partition)
	}
	if err != nil {
		b.log.Debug("kafka: transaction verification failed", "transactional_id", *req.TransactionID, "err", err)
	}
	return txnAddCode(code, err, kerr.NotEnoughReplicas.Code)
}

// addTxnOffsets has the transaction coordinator add the group's
// __consumer_offsets partition to the producer's transaction before a
// TxnOffsetCommit v5+ stores offsets in it (KIP-890 part 2: the producer
// sends no AddOffsetsToTxn). It returns 0 or the error code to answer;
// COORDINATOR_NOT_AVAILABLE when the coordinator cannot answer now
// (clients abort the transaction and retry it).
func (b *Broker) addTxnOffsets(req *kmsg.TxnOffsetCommitRequest) int16 {
	t := b.ctrl.Image().Topic(group.OffsetsTopic)
	if b.cfg.Txns == nil || t == nil || len(t.Partitions) == 0 {
		return kerr.CoordinatorNotAvailable.Code
	}
	ctx, cancel := context.WithTimeout(context.Background(), verifyTimeout)
	defer cancel()
	code, err := b.cfg.Txns.AddImplicit(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch,
		group.OffsetsTopic, group.PartitionFor(req.Group, int32(len(t.Partitions))))
	if err != nil {
		b.log.Debug("kafka: adding offsets to transaction failed", "transactional_id", req.TransactionalID, "err", err)
	}
	return txnAddCode(code, err, kerr.CoordinatorNotAvailable.Code)
}

// txnAddCode maps a coordinator's answer to an add or verification into
// the code a produce or offset commit answers: a fenced producer is
// INVALID_PRODUCER_EPOCH, a coordinator that could not answer (err, or
// an error of its own) retry.
func txnAddCode(code int16, err error, retry int16) int16 {
	switch {
	case err != nil:
		return retry
	case code == 0, code == kerr.InvalidTxnState.Code:
		return code
	case code == kerr.ProducerFenced.Code, code == kerr.InvalidProducerEpoch.Code, code == kerr.InvalidProducerIDMapping.Code:
		return kerr.InvalidProducerEpoch.Code
	}
	return retry
}

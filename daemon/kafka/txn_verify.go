package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
)

// verifyTimeout bounds a produce's wait for its transaction's coordinator.
const verifyTimeout = 5 * time.Second

// verifyTxnWrite is KIP-890 part 1: before the first transactional batch
// of a producer's transaction is appended to a partition, the
// transaction's coordinator must confirm that the producer added the
// partition to its ongoing transaction. A batch arriving after its
// transaction ended (a late retry, a zombie) would otherwise open a
// transaction nobody ends, holding the LSO back for good (a hanging
// transaction). It returns 0 or the error code to answer: a partition not
// in the transaction is INVALID_TXN_STATE, a fenced producer
// INVALID_PRODUCER_EPOCH, and a coordinator that cannot answer now
// NOT_ENOUGH_REPLICAS, which producers retry (as Kafka answers Produce
// up to v11).
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
	code, err := b.cfg.Txns.Verify(ctx, *req.TransactionID, h.ProducerID, h.ProducerEpoch, topic, partition)
	if err != nil {
		b.log.Debug("kafka: transaction verification failed", "transactional_id", *req.TransactionID, "err", err)
		return kerr.NotEnoughReplicas.Code
	}
	switch code {
	case 0, kerr.InvalidTxnState.Code:
		return code
	case kerr.ProducerFenced.Code, kerr.InvalidProducerEpoch.Code, kerr.InvalidProducerIDMapping.Code:
		return kerr.InvalidProducerEpoch.Code
	}
	return kerr.NotEnoughReplicas.Code
}

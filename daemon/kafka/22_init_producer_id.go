package kafka

// InitProducerId v0-5, for idempotent and transactional producers.
//
// A producer without a transactional id gets a new producer id from the
// controller with epoch 0. From v3 (KIP-360) a producer that already has an
// id sends it with its epoch to have the epoch bumped (after a sequence
// error or timeout): it keeps its id with epoch+1, or gets a new id once the
// epoch is exhausted. An id that was never handed out gets a new one.
//
// A producer with a transactional id is served by the transaction
// coordinator of that id (daemon/txn): a new id, or the next epoch of the
// id's producer, fencing the older ones. An empty transactional id is
// INVALID_REQUEST, as in Kafka.

import (
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(&api{key: 22, minVersion: 0, maxVersion: 5, serve: serveInitProducerID})
}

func serveInitProducerID(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	switch {
	case req.TransactionalID != nil && *req.TransactionalID == "":
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	case req.TransactionalID != nil:
		return serveTxn(b, r)
	}
	// Kafka starts a new id when a bump would reach the largest epoch.
	if req.Version >= 3 && req.ProducerID >= 0 && req.ProducerID < b.ctrl.Image().ProducerIDsEnd &&
		req.ProducerEpoch >= 0 && req.ProducerEpoch < math.MaxInt16-1 {
		resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch+1
		return resp, nil
	}
	id, err := b.ctrl.AllocateProducerIDs(1)
	if err != nil {
		b.log.Error("kafka: allocating a producer id", "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}

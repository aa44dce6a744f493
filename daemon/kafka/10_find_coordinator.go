package kafka

// FindCoordinator v0-4: the broker leading the __consumer_offsets
// partition of a group (Kafka's hash of the group id); v4+ answers a batch
// of keys. A transactional id's (key type 1) is the leader of its
// __transaction_state partition, by the same hash.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon/group"
	"github.com/riffle/riffle/daemon/txn"
	"github.com/riffle/riffle/quorum"
)

func init() {
	register(&api{key: 10, minVersion: 0, maxVersion: 4, serve: serveFindCoordinator})
}

func serveFindCoordinator(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	if req.CoordinatorType == 1 && b.cfg.Txns != nil {
		b.cfg.Txns.Want() // created on first use, as Kafka does
	}
	im := b.ctrl.Image()
	if req.Version < 4 {
		br, code := groupCoordinator(im, req.CoordinatorType, req.CoordinatorKey)
		resp.NodeID, resp.ErrorCode = br.ID, code
		resp.Host, resp.Port = b.endpoint(r.conn.Listener, br.ID, br.Host, br.Port)
		return resp, nil
	}
	for _, key := range req.CoordinatorKeys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		br, code := groupCoordinator(im, req.CoordinatorType, key)
		c.Key, c.NodeID, c.ErrorCode = key, br.ID, code
		c.Host, c.Port = b.endpoint(r.conn.Listener, br.ID, br.Host, br.Port)
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return resp, nil
}

// groupCoordinator is the broker leading key's partition of
// __consumer_offsets (a group) or __transaction_state (a transactional
// id), or (node -1) the error code saying why there is none.
func groupCoordinator(im *quorum.Image, keyType int8, key string) (quorum.Broker, int16) {
	none := quorum.Broker{ID: -1, Port: -1}
	topic := group.OffsetsTopic
	switch keyType {
	case 0:
	case 1:
		topic = txn.TransactionsTopic
	default:
		return none, kerr.InvalidRequest.Code
	}
	t := im.Topic(topic)
	if t == nil || len(t.Partitions) == 0 {
		return none, kerr.CoordinatorNotAvailable.Code
	}
	p := t.Partitions[group.PartitionFor(key, int32(len(t.Partitions)))]
	br, ok := im.Broker(p.Leader)
	if !ok {
		return none, kerr.CoordinatorNotAvailable.Code
	}
	return br, 0
}

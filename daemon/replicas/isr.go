package replicas

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
)

// isrRetry paces the retries of an ISR proposal no controller could take.
const isrRetry = 500 * time.Millisecond

// isrSender carries the leaders' ISR proposals to the controller
// (AlterPartition, KIP-497), each on its own goroutine: a replica keeps one
// proposal in flight, so there are at most as many as led partitions.
type isrSender struct {
	m      *Manager
	ctx    context.Context
	cancel context.CancelFunc
}

func newISRSender(m *Manager) *isrSender {
	ctx, cancel := context.WithCancel(context.Background())
	return &isrSender{m: m, ctx: ctx, cancel: cancel}
}

// propose is replica.Options.ProposeISR; it does not block.
func (s *isrSender) propose(prop replica.ISRProposal) {
	if s.ctx.Err() == nil {
		go s.send(prop)
	}
}

// close stops retries. A call under way is left to finish: it may wait for
// the controller, which closes after the replicas.
func (s *isrSender) close() { s.cancel() }

// send sends prop until the controller answers or prop stops being
// current, and handles the answer as Kafka's leader does
// (Partition.submitAlterPartition, cluster-notes §2): success, and
// NEW_LEADER_ELECTED (committed, completing a reassignment that moved the
// leadership), are adopted when the image brings them; INELIGIBLE_REPLICA and
// OPERATION_NOT_ATTEMPTED end the proposal (ISRRejected); fencing, version
// and unknown-partition errors leave it pending until the next image; any
// other error (NOT_CONTROLLER, timeouts) is retried.
func (s *isrSender) send(prop replica.ISRProposal) {
	log := s.m.log.With("topic", prop.Topic, "partition", prop.Partition, "leader_epoch", prop.LeaderEpoch,
		"partition_epoch", prop.PartitionEpoch)
	for {
		req, committed, ok := s.request(prop)
		if !ok {
			return // the image moved on; the replica hears of it from there
		}
		err := s.m.opts.ISR.AlterPartition(req)
		switch {
		case err == nil:
			if len(req.NewISR) < len(committed) {
				s.m.metrics.isrShrinks.Add(1)
			} else if len(req.NewISR) > len(committed) {
				s.m.metrics.isrExpands.Add(1)
			}
			log.Info("ISR changed", "from", committed, "to", prop.ISR)
			return
		case errors.Is(err, kerr.IneligibleReplica), errors.Is(err, kerr.OperationNotAttempted):
			log.Info("ISR change refused", "isr", prop.ISR, "err", err)
			if p := s.m.Partition(prop.Topic, prop.Partition); p != nil {
				p.ISRRejected(prop)
			}
			return
		case errors.Is(err, kerr.NewLeaderElected):
			// Committed: it completed a reassignment that moved the
			// leadership; the image brings the new role.
			s.m.metrics.isrExpands.Add(1)
			log.Info("ISR changed; the reassignment it completed moved the leadership", "from", committed, "to", prop.ISR)
			return
		case errors.Is(err, kerr.FencedLeaderEpoch), errors.Is(err, kerr.InvalidUpdateVersion),
			errors.Is(err, kerr.StaleBrokerEpoch), errors.Is(err, kerr.InvalidRequest),
			errors.Is(err, quorum.ErrUnknownTopic), errors.Is(err, quorum.ErrClosed):
			log.Info("ISR change not made; waiting for newer metadata", "isr", prop.ISR, "err", err)
			return
		}
		log.Debug("ISR change not sent; retrying", "err", err)
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(isrRetry):
		}
	}
}

// request is prop as an AlterPartition from this broker at its registered
// epoch, with the committed ISR it changes; !ok when the latest image no
// longer has this broker leading the partition at prop's epochs.
func (s *isrSender) request(prop replica.ISRProposal) (req quorum.AlterPartition, committed []int32, ok bool) {
	im := s.m.opts.Metadata.Image()
	self, registered := im.Broker(int32(s.m.opts.NodeID))
	t := im.Topic(prop.Topic)
	if !registered || t == nil || prop.Partition < 0 || int(prop.Partition) >= len(t.Partitions) {
		return req, nil, false
	}
	mp := t.Partitions[prop.Partition]
	if ids.NodeID(mp.Leader) != s.m.opts.NodeID || ids.Epoch(mp.LeaderEpoch) != prop.LeaderEpoch ||
		mp.PartitionEpoch != prop.PartitionEpoch {
		return req, nil, false
	}
	req = quorum.AlterPartition{BrokerID: self.ID, BrokerEpoch: self.Epoch, TopicID: t.ID, Partition: prop.Partition,
		LeaderEpoch: int32(prop.LeaderEpoch), PartitionEpoch: prop.PartitionEpoch}
	for _, mem := range prop.ISR {
		req.NewISR = append(req.NewISR, quorum.ISRMember{ID: int32(mem.ID), Epoch: mem.BrokerEpoch})
	}
	return req, mp.ISR, true
}

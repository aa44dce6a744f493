package kafka

// WriteTxnMarkers v0-1: a transaction coordinator has this broker, the
// leader of the named partitions, append a commit or abort marker for a
// producer to each (replica.Partition.AppendMarker), answered once each
// marker is replicated (acks=all, as Kafka writes them). A marker for a
// __consumer_offsets partition also makes the producer's pending offsets
// there visible or drops them (daemon/group). A marker is answered per
// partition: NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION,
// INVALID_PRODUCER_EPOCH (a newer epoch's marker or batch is already
// there) and the like; the coordinator retries until each is written.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon/group"
	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/replica"
)

func init() {
	register(&api{key: 27, minVersion: 0, maxVersion: 1, serve: serveWriteTxnMarkers})
}

// markerTimeout bounds the wait for a marker's replication.
const markerTimeout = 5 * time.Second

func serveWriteTxnMarkers(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.WriteTxnMarkersRequest)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	type wait struct {
		code     *int16
		p        *replica.Partition
		required ids.Offset
		topic    string
		part     int32
		marker   kmsg.WriteTxnMarkersRequestMarker
	}
	var waits []wait
	for _, m := range req.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, rt := range m.Topics {
			t := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			t.Topic = rt.Topic
			t.Partitions = make([]kmsg.WriteTxnMarkersResponseMarkerTopicPartition, len(rt.Partitions))
			rm.Topics = append(rm.Topics, t)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	for i, m := range req.Markers {
		for j, rt := range m.Topics {
			for k, part := range rt.Partitions {
				sp := &resp.Markers[i].Topics[j].Partitions[k]
				sp.Partition = part
				p, code := b.leaderPartition(rt.Topic, part)
				if code != 0 {
					sp.ErrorCode = code
					continue
				}
				res, err := p.AppendMarker(m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch, b.cfg.Now().UnixMilli())
				if err != nil {
					sp.ErrorCode = b.errorCode(err)
					continue
				}
				waits = append(waits, wait{&sp.ErrorCode, p, ids.Offset(res.LastOffset + 1), rt.Topic, part, m})
			}
		}
	}
	ctx, cancel := context.WithTimeout(r.ctx, markerTimeout)
	defer cancel()
	for _, w := range waits {
		if err := w.p.WaitReplicated(ctx, w.required); err != nil {
			*w.code = b.errorCode(err)
			continue
		}
		if w.topic == group.OffsetsTopic && b.cfg.Groups != nil {
			b.cfg.Groups.CompleteTxn(w.part, w.marker.ProducerID, w.marker.Committed)
		}
	}
	return resp, nil
}

package kafka

// DescribeProducers v0: the producers a partition's leader keeps state for
// (id, epoch, last sequence and timestamp) and the first offset of each
// one's open transaction, -1 none: what an operator needs to find the
// transaction holding a partition's LSO back. A replica that does not
// lead the partition answers NOT_LEADER_OR_FOLLOWER.

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(&api{key: 61, minVersion: 0, maxVersion: 0, serve: serveDescribeProducers})
}

func serveDescribeProducers(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		for _, part := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = part
			p, code := b.leaderPartition(rt.Topic, part)
			sp.ErrorCode = code
			if p != nil && code == 0 {
				for _, s := range p.Producers() {
					ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
					ap.ProducerID, ap.ProducerEpoch, ap.LastSequence, ap.LastTimestamp = s.ProducerID, int32(s.ProducerEpoch), s.LastSequence, s.LastTimestamp
					ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = -1, s.TxnStartOffset
					sp.ActiveProducers = append(sp.ActiveProducers, ap)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

package kafka

// OffsetForLeaderEpoch v0-4: per partition, the largest leader epoch <= the
// requested one and its end offset (the next epoch's start offset, or the
// log end offset for the latest epoch); -1/-1 for an epoch newer than any
// the log knows. Consumers use it to detect truncation (KIP-320), followers to
// truncate (KIP-101). v0 answers the end offset only, v0-1 carry no
// current leader epoch to check.

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(&api{key: 23, minVersion: 0, maxVersion: 4, serve: serveOffsetForLeaderEpoch})
}

func serveOffsetForLeaderEpoch(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
		rt.Topic = t.Topic
		for _, rp := range t.Partitions {
			out := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			out.Partition = rp.Partition
			p, code := b.leaderPartition(t.Topic, rp.Partition)
			if code == 0 {
				code = b.errorCode(p.CheckLeaderEpoch(rp.CurrentLeaderEpoch))
			}
			if out.ErrorCode = code; code == 0 {
				out.LeaderEpoch, out.EndOffset = p.Log().EndOffsetForEpoch(rp.LeaderEpoch)
			}
			rt.Partitions = append(rt.Partitions, out)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

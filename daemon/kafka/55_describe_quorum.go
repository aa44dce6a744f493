package kafka

// DescribeQuorum v0-1: the metadata quorum (__cluster_metadata-0) as the
// active controller sees it: leader, term (as leader epoch), the commit
// index (as high watermark), each voter's matched index (as log end
// offset), and the observers (brokers that are not voters) that fetched
// from it lately with the index each holds. Offsets here are raft indexes. Any other node answers
// NOT_CONTROLLER, so that clients send it to the controller Metadata names
// (franz-go does, refreshing metadata on NOT_CONTROLLER). v2 (voter
// directory ids and endpoints, KIP-853) is not served.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

func init() {
	register(&api{key: 55, minVersion: 0, maxVersion: 1, serve: serveDescribeQuorum})
}

func serveDescribeQuorum(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeQuorumRequest)
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	if b.cfg.Quorum == nil {
		resp.ErrorCode = kerr.NotController.Code
		return resp, nil
	}
	q, err := b.cfg.Quorum()
	if err != nil || q.Leader != b.cfg.NodeID {
		resp.ErrorCode = kerr.NotController.Code
		return resp, nil
	}
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeQuorumResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDescribeQuorumResponseTopicPartition()
			sp.Partition = rp.Partition
			if rt.Topic != quorum.MetadataTopic || rp.Partition != 0 {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			sp.LeaderID, sp.LeaderEpoch, sp.HighWatermark = q.Leader, int32(q.Term), int64(q.Commit)
			for _, v := range q.Voters {
				rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
				rs.ReplicaID, rs.LogEndOffset = v.ID, v.Match
				sp.CurrentVoters = append(sp.CurrentVoters, rs)
			}
			for _, o := range q.Observers {
				rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
				rs.ReplicaID, rs.LogEndOffset = o.ID, o.Match
				sp.Observers = append(sp.Observers, rs)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

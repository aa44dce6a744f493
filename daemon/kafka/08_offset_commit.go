package kafka

// OffsetCommit v0-9: a group member (or, with generation -1, anyone while
// the group has no members) commits offsets with metadata. Partitions of
// topics that do not exist are UNKNOWN_TOPIC_OR_PARTITION; the rest go to
// the coordinator, which answers once the commit is in the log.
// retention_time_ms (v2-4) and the commit timestamp (v1) are ignored:
// offsets.retention.minutes applies. v0 (which old Kafka kept in
// ZooKeeper) carries no generation: it commits as generation -1.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(&api{key: 8, minVersion: 0, maxVersion: 9, serve: serveOffsetCommit})
}

func serveOffsetCommit(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.OffsetCommitRequest)
	im := b.ctrl.Image()
	known := *req
	known.Topics = nil
	var unknown []kmsg.OffsetCommitResponseTopic
	for _, rt := range req.Topics {
		t := im.Topic(rt.Topic)
		kt, ut := rt, kmsg.NewOffsetCommitResponseTopic()
		kt.Partitions, ut.Topic = nil, rt.Topic
		for _, rp := range rt.Partitions {
			if t != nil && rp.Partition >= 0 && int(rp.Partition) < len(t.Partitions) {
				kt.Partitions = append(kt.Partitions, rp)
				continue
			}
			up := kmsg.NewOffsetCommitResponseTopicPartition()
			up.Partition, up.ErrorCode = rp.Partition, kerr.UnknownTopicOrPartition.Code
			ut.Partitions = append(ut.Partitions, up)
		}
		if len(kt.Partitions) > 0 {
			known.Topics = append(known.Topics, kt)
		}
		if len(ut.Partitions) > 0 {
			unknown = append(unknown, ut)
		}
	}
	r.body = &known
	resp, err := serveGroup(b, r)
	if err != nil {
		return nil, err
	}
	commit := resp.(*kmsg.OffsetCommitResponse)
	commit.Topics = append(commit.Topics, unknown...)
	return commit, nil
}

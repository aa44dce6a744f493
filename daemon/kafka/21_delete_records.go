package kafka

// DeleteRecords v0-2: raise each partition's log start, on its leader, to
// the offset given (-1: the high watermark), as Kafka's
// Partition.deleteRecordsOnLeader does. Answers the new log start
// (LowWatermark) or: OFFSET_OUT_OF_RANGE above the high watermark or below
// -1, NOT_LEADER_OR_FOLLOWER off the leader, UNKNOWN_TOPIC_OR_PARTITION,
// INVALID_TOPIC_EXCEPTION for the internal __consumer_offsets. The answer
// does not wait for followers to raise their own log start (Kafka's
// DelayedDeleteRecords does): the leader's is the one consumers see.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon/group"
)

func init() {
	register(&api{key: 21, minVersion: 0, maxVersion: 2, serve: serveDeleteRecords})
}

func serveDeleteRecords(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewDeleteRecordsResponseTopic()
		rt.Topic = t.Topic
		for _, rp := range t.Partitions {
			out := kmsg.NewDeleteRecordsResponseTopicPartition()
			out.Partition, out.LowWatermark = rp.Partition, -1
			if err := b.deleteRecords(t.Topic, rp, &out); err != nil {
				out.ErrorCode = b.errorCode(err)
				b.log.Debug("kafka: delete records refused", "topic", t.Topic, "partition", rp.Partition, "offset", rp.Offset, "err", err)
			}
			rt.Partitions = append(rt.Partitions, out)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

func (b *Broker) deleteRecords(topic string, rp kmsg.DeleteRecordsRequestTopicPartition, out *kmsg.DeleteRecordsResponseTopicPartition) error {
	if topic == group.OffsetsTopic {
		return fmt.Errorf("%w: cannot delete records of internal topic %s", kerr.InvalidTopicException, topic)
	}
	p, code := b.leaderPartition(topic, rp.Partition)
	if code != 0 {
		return kerr.ErrorForCode(code)
	}
	lowWatermark, err := p.DeleteRecords(rp.Offset)
	if err != nil {
		return err
	}
	out.LowWatermark = lowWatermark
	return nil
}

package kafka

// TxnOffsetCommit v0-5: a transactional producer commits a group's offsets
// inside its transaction. The group coordinator stores them as a
// transactional batch of the producer in __consumer_offsets and makes them
// the group's offsets only when the commit marker arrives
// (WriteTxnMarkers); an abort drops them. From v5 (KIP-890 part 2) the
// producer sends no AddOffsetsToTxn: the group's __consumer_offsets
// partition is added to the transaction here first (txn_verify.go), and
// an error doing so answers every partition.

import "github.com/twmb/franz-go/pkg/kmsg"

func init() {
	register(&api{key: 28, minVersion: 0, maxVersion: 5, serve: serveTxnOffsetCommit})
}

func serveTxnOffsetCommit(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.TxnOffsetCommitRequest)
	if req.Version < 5 {
		return serveGroup(b, r)
	}
	code := b.addTxnOffsets(req)
	if code == 0 {
		return serveGroup(b, r)
	}
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for _, rt := range req.Topics {
		t := kmsg.TxnOffsetCommitResponseTopic{Topic: rt.Topic}
		for _, rp := range rt.Partitions {
			t.Partitions = append(t.Partitions, kmsg.TxnOffsetCommitResponseTopicPartition{Partition: rp.Partition, ErrorCode: code})
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp, nil
}

package group

import (
	"maps"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Offsets committed inside a transaction (TxnOffsetCommit) are appended to
// __consumer_offsets as a transactional batch of the producer and held
// apart, per group and producer, until the transaction's marker reaches
// the partition (CompleteTxn): a commit makes them the group's offsets, an
// abort drops them. OffsetFetch with require_stable answers a partition
// with such pending offsets UNSTABLE_OFFSET_COMMIT, so that a consumer
// does not start from an offset about to change.

// TxnProducer is the producer of a transactional Append.
type TxnProducer struct {
	ID    int64
	Epoch int16
}

// txnCommit serves TxnOffsetCommit: the offsets are stored pending once
// appended, as an OffsetCommit's would be stored. A generation (v3+) other
// than -1 is checked like an OffsetCommit's.
func (m *Machine) txnCommit(now int64, call CallID, req *kmsg.TxnOffsetCommitRequest) {
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group, oc.Generation, oc.MemberID, oc.InstanceID = req.Group, req.Generation, req.MemberID, req.InstanceID
	for _, rt := range req.Topics {
		t := kmsg.OffsetCommitRequestTopic{Topic: rt.Topic}
		for _, rp := range rt.Partitions {
			t.Partitions = append(t.Partitions, kmsg.OffsetCommitRequestTopicPartition{
				Partition: rp.Partition, Offset: rp.Offset, LeaderEpoch: rp.LeaderEpoch, Metadata: rp.Metadata})
		}
		oc.Topics = append(oc.Topics, t)
	}
	g, code := m.txnCommitGroup(now, req)
	m.storeOffsets(g, code, now, oc, &TxnProducer{ID: req.ProducerID, Epoch: req.ProducerEpoch}, func(ocResp *kmsg.OffsetCommitResponse) {
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		for _, rt := range ocResp.Topics {
			t := kmsg.TxnOffsetCommitResponseTopic{Topic: rt.Topic}
			for _, rp := range rt.Partitions {
				t.Partitions = append(t.Partitions, kmsg.TxnOffsetCommitResponseTopicPartition{Partition: rp.Partition, ErrorCode: rp.ErrorCode})
			}
			resp.Topics = append(resp.Topics, t)
		}
		m.reply(call, resp)
	})
}

// txnCommitGroup finds the group of a TxnOffsetCommit, creating it when
// it does not exist: a producer may commit for a group with no members.
func (m *Machine) txnCommitGroup(now int64, req *kmsg.TxnOffsetCommitRequest) (*group, int16) {
	if code := m.coordinatorError(req.Group); code != 0 {
		return nil, code
	}
	g := m.getOrCreateGroup(req.Group, now)
	switch {
	case g.state == Dead:
		return nil, kerr.CoordinatorNotAvailable.Code
	case req.Version < 3 || req.Generation < 0 || len(g.members) == 0:
		return g, 0
	case g.fenced(req.MemberID, req.InstanceID):
		return nil, kerr.FencedInstanceID.Code
	}
	return g, g.validateMember(req.MemberID, req.InstanceID, req.Generation, true)
}

func (g *group) addTxnOffsets(producerID int64, offsets map[topicPartition]offset) {
	if g.txnOffsets == nil {
		g.txnOffsets = map[int64]map[topicPartition]offset{}
	}
	if g.txnOffsets[producerID] == nil {
		g.txnOffsets[producerID] = map[topicPartition]offset{}
	}
	maps.Copy(g.txnOffsets[producerID], offsets)
}

// CompleteTxn applies a transaction marker appended to partition p of
// __consumer_offsets: the producer's pending offsets there become the
// groups' offsets (commit) or are dropped (abort).
func (m *Machine) CompleteTxn(p int32, producerID int64, commit bool) {
	for _, g := range m.groups {
		if g.partition != p || g.txnOffsets[producerID] == nil {
			continue
		}
		if commit && g.state != Dead {
			maps.Copy(g.offsets, g.txnOffsets[producerID])
		}
		delete(g.txnOffsets, producerID)
	}
}

// loadBatchRecord replays one record with its batch: transactional
// offsets are held pending, markers complete them.
func (m *Machine) loadBatchRecord(now int64, p int32, b BatchInfo, key, value []byte) error {
	switch {
	case b.Control:
		var k kmsg.ControlRecordKey
		if err := k.ReadFrom(key); err != nil {
			return err
		}
		if k.Type == kmsg.ControlRecordKeyTypeAbort || k.Type == kmsg.ControlRecordKeyTypeCommit {
			m.CompleteTxn(p, b.ProducerID, k.Type == kmsg.ControlRecordKeyTypeCommit)
		}
		return nil
	case b.Transactional:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil || value == nil {
			return err
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(value); err != nil {
			return err
		}
		o := offset{offset: v.Offset, leaderEpoch: v.LeaderEpoch, metadata: v.Metadata, commitMs: v.CommitTimestamp, expireMs: -1}
		m.getOrCreateGroup(k.Group, now).addTxnOffsets(b.ProducerID, map[topicPartition]offset{{k.Topic, k.Partition}: o})
		return nil
	}
	return m.Load(now, p, key, value)
}

// markUnstable answers UNSTABLE_OFFSET_COMMIT for the partitions with
// offsets pending in a transaction, when the fetch requires stable ones.
func (m *Machine) markUnstable(id string, requireStable bool, topics []fetchedTopic) {
	g := m.groups[id]
	if !requireStable || g == nil || len(g.txnOffsets) == 0 {
		return
	}
	for i, ft := range topics {
		for j, fp := range ft.partitions {
			for _, pending := range g.txnOffsets {
				if _, ok := pending[topicPartition{ft.topic, fp.partition}]; ok && fp.code == 0 {
					topics[i].partitions[j].code = kerr.UnstableOffsetCommit.Code
				}
			}
		}
	}
}

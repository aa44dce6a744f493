package group

import (
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// commit serves OffsetCommit. The offsets become visible, and the request
// is answered, only after their records are appended.
func (m *Machine) commit(now int64, call CallID, req *kmsg.OffsetCommitRequest) {
	g, code := m.commitGroup(now, req)
	m.storeOffsets(g, code, now, req, nil, func(resp *kmsg.OffsetCommitResponse) { m.reply(call, resp) })
}

// storeOffsets appends req's offsets to g and then makes them g's
// offsets, or with a producer holds them pending in its transaction
// (txnoffsets.go); done gets the answer. A code other than 0 answers
// every partition with it at once.
func (m *Machine) storeOffsets(g *group, code int16, now int64, req *kmsg.OffsetCommitRequest, producer *TxnProducer, done func(*kmsg.OffsetCommitResponse)) {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	for _, rt := range req.Topics {
		t := kmsg.NewOffsetCommitResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewOffsetCommitResponseTopicPartition()
			p.Partition = rp.Partition
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	setAll := func(code int16) {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if resp.Topics[i].Partitions[j].ErrorCode == 0 {
					resp.Topics[i].Partitions[j].ErrorCode = code
				}
			}
		}
	}
	if code != 0 {
		setAll(code)
		done(resp)
		return
	}
	var recs []Record
	committed := map[topicPartition]offset{}
	for i, rt := range req.Topics {
		for j, rp := range rt.Partitions {
			o := offset{offset: rp.Offset, leaderEpoch: rp.LeaderEpoch, commitMs: now, expireMs: -1}
			if rp.Metadata != nil {
				o.metadata = *rp.Metadata
			}
			if len(o.metadata) > m.cfg.OffsetMetadataBytesMax {
				resp.Topics[i].Partitions[j].ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			tp := topicPartition{rt.Topic, rp.Partition}
			committed[tp] = o
			recs = append(recs, Record{Key: offsetKey(g.id, tp), Value: offsetValue(o)})
		}
	}
	if len(recs) == 0 {
		done(resp)
		return
	}
	g.committing++
	m.appendRecords(g.partition, producer, recs, func(_ int64, code int16) {
		g.committing--
		switch {
		case code != 0 || g.state == Dead:
		case producer != nil:
			g.addTxnOffsets(producer.ID, committed)
		default:
			maps.Copy(g.offsets, committed)
		}
		setAll(commitErrorCode(code))
		done(resp)
	})
}

// commitGroup checks who commits: a member of the current generation, or
// (generation -1) anyone while the group has no members. A group that does
// not exist yet is created for the latter.
func (m *Machine) commitGroup(now int64, req *kmsg.OffsetCommitRequest) (*group, int16) {
	if code := m.coordinatorError(req.Group); code != 0 {
		return nil, code
	}
	g := m.groups[req.Group]
	switch {
	case g == nil && req.Generation >= 0:
		return nil, kerr.IllegalGeneration.Code
	case g == nil:
		return m.getOrCreateGroup(req.Group, now), 0
	case g.state == Dead:
		return nil, kerr.CoordinatorNotAvailable.Code
	case req.Generation < 0 && g.state == Empty:
		return g, 0
	case g.fenced(req.MemberID, req.InstanceID):
		return nil, kerr.FencedInstanceID.Code
	case req.Generation < 0 && req.MemberID == "" && req.InstanceID == nil:
		return nil, kerr.UnknownMemberID.Code // only members commit to a group with members
	}
	if code := g.validateMember(req.MemberID, req.InstanceID, req.Generation, true); code != 0 {
		return nil, code
	}
	if g.state == CompletingRebalance {
		// The member has the new generation but not its assignment yet.
		return nil, kerr.RebalanceInProgress.Code
	}
	mem := g.member(req.MemberID)
	mem.deadline = now + int64(mem.sessionTimeoutMs)
	return g, 0
}

// fetchedTopic is one topic of an OffsetFetch answer, before it is put in
// the version's response type.
type fetchedTopic struct {
	topic      string
	partitions []fetchedPartition
}

type fetchedPartition struct {
	partition int32
	offset
	code int16
}

func (m *Machine) fetchOffsets(call CallID, req *kmsg.OffsetFetchRequest) {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var topics []fetchedTopic
			if rg.Topics != nil {
				topics = []fetchedTopic{}
				for _, rt := range rg.Topics {
					topics = append(topics, requestedTopic(rt.Topic, rt.Partitions))
				}
			}
			code, got := m.groupOffsets(rg.Group, topics)
			m.markUnstable(rg.Group, req.RequireStable, got)
			resp.Groups = append(resp.Groups, groupFetchResponse(rg.Group, code, got))
		}
		m.reply(call, resp)
		return
	}
	var topics []fetchedTopic
	if req.Topics != nil {
		topics = []fetchedTopic{}
		for _, rt := range req.Topics {
			topics = append(topics, requestedTopic(rt.Topic, rt.Partitions))
		}
	}
	code, got := m.groupOffsets(req.Group, topics)
	m.markUnstable(req.Group, req.RequireStable, got)
	if code != 0 && req.Version < 2 {
		// v0-1 have no group-level error: every partition carries it.
		for i := range topics {
			for j := range topics[i].partitions {
				topics[i].partitions[j].code = code
			}
		}
		got, code = topics, 0
	}
	resp.ErrorCode = code
	for _, ft := range got {
		t := kmsg.NewOffsetFetchResponseTopic()
		t.Topic = ft.topic
		for _, fp := range ft.partitions {
			p := kmsg.NewOffsetFetchResponseTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch, p.ErrorCode = fp.partition, fp.offset.offset, fp.leaderEpoch, fp.code
			md := fp.metadata
			p.Metadata = &md
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	m.reply(call, resp)
}

func requestedTopic(topic string, partitions []int32) fetchedTopic {
	ft := fetchedTopic{topic: topic}
	for _, p := range partitions {
		ft.partitions = append(ft.partitions, fetchedPartition{partition: p, offset: noOffset})
	}
	return ft
}

// noOffset is what a partition without a committed offset reads as.
var noOffset = offset{offset: -1, leaderEpoch: -1}

// groupOffsets fills in the committed offsets of topics, or lists all of
// the group's offsets when topics is nil. A group this coordinator does not
// know has no offsets: that is not an error.
func (m *Machine) groupOffsets(id string, topics []fetchedTopic) (int16, []fetchedTopic) {
	if code := m.coordinatorError(id); code != 0 {
		return code, nil
	}
	g := m.groups[id]
	if topics != nil {
		for i, ft := range topics {
			for j, fp := range ft.partitions {
				if o, ok := g.offsetOf(topicPartition{ft.topic, fp.partition}); ok {
					topics[i].partitions[j].offset = o
				}
			}
		}
		return 0, topics
	}
	if g == nil {
		return 0, nil
	}
	byTopic := map[string][]fetchedPartition{}
	for tp, o := range g.offsets {
		byTopic[tp.topic] = append(byTopic[tp.topic], fetchedPartition{partition: tp.partition, offset: o})
	}
	for _, t := range slices.Sorted(maps.Keys(byTopic)) {
		ps := byTopic[t]
		slices.SortFunc(ps, func(a, b fetchedPartition) int { return int(a.partition - b.partition) })
		topics = append(topics, fetchedTopic{topic: t, partitions: ps})
	}
	return 0, topics
}

func (g *group) offsetOf(tp topicPartition) (offset, bool) {
	if g == nil || g.state == Dead {
		return offset{}, false
	}
	o, ok := g.offsets[tp]
	return o, ok
}

func groupFetchResponse(id string, code int16, topics []fetchedTopic) kmsg.OffsetFetchResponseGroup {
	rg := kmsg.NewOffsetFetchResponseGroup()
	rg.Group, rg.ErrorCode = id, code
	for _, ft := range topics {
		t := kmsg.NewOffsetFetchResponseGroupTopic()
		t.Topic = ft.topic
		for _, fp := range ft.partitions {
			p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch, p.ErrorCode = fp.partition, fp.offset.offset, fp.leaderEpoch, fp.code
			md := fp.metadata
			p.Metadata = &md
			t.Partitions = append(t.Partitions, p)
		}
		rg.Topics = append(rg.Topics, t)
	}
	return rg
}

// deleteOffsets serves OffsetDelete: an Empty group's offsets go; a
// consumer group with members keeps those of topics it subscribes to
// (GROUP_SUBSCRIBED_TO_TOPIC).
func (m *Machine) deleteOffsets(now int64, call CallID, req *kmsg.OffsetDeleteRequest) {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	code := m.coordinatorError(req.Group)
	g := m.groups[req.Group]
	switch {
	case code != 0:
	case g == nil || g.state == Dead:
		code = kerr.GroupIDNotFound.Code
	case g.state != Empty && g.protocolType != consumerProtocolType:
		code = kerr.NonEmptyGroup.Code
	}
	if code != 0 {
		resp.ErrorCode = code
		m.reply(call, resp)
		return
	}
	subscribed, known := g.subscribedTopics()
	var recs []Record
	var gone []topicPartition
	for _, rt := range req.Topics {
		t := kmsg.NewOffsetDeleteResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewOffsetDeleteResponseTopicPartition()
			p.Partition = rp.Partition
			tp := topicPartition{rt.Topic, rp.Partition}
			switch {
			case g.state != Empty && (!known || subscribed[rt.Topic]):
				p.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				if _, ok := g.offsets[tp]; ok {
					gone = append(gone, tp)
					recs = append(recs, Record{Key: offsetKey(g.id, tp)})
				}
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	if len(recs) == 0 {
		m.reply(call, resp)
		return
	}
	m.appendRecords(g.partition, nil, recs, func(_ int64, code int16) {
		if code != 0 {
			resp.ErrorCode, resp.Topics = code, nil
		} else {
			for _, tp := range gone {
				delete(g.offsets, tp)
			}
		}
		m.reply(call, resp)
	})
}

// expireOffsets drops offsets past retention (KIP-211): in an Empty group
// counted from when it became Empty, in a group without a protocol
// (committing without membership) from the commit, and in a Stable
// consumer group only for topics no member subscribes to. A group left
// Empty without offsets is deleted.
func (m *Machine) expireOffsets(now int64) {
	for _, id := range slices.Sorted(maps.Keys(m.groups)) {
		g := m.groups[id]
		if m.partitions[g.partition] != PartitionActive || g.state == Dead {
			continue
		}
		var recs []Record
		for _, tp := range slices.SortedFunc(maps.Keys(g.offsets), compareTP) {
			if m.offsetExpired(now, g, tp) {
				delete(g.offsets, tp)
				recs = append(recs, Record{Key: offsetKey(g.id, tp)})
			}
		}
		if g.state == Empty && len(g.offsets) == 0 && g.committing == 0 {
			g.transition(Dead, now)
			delete(m.groups, id)
			recs = append(recs, Record{Key: groupKey(g.id)})
		}
		if len(recs) > 0 {
			m.appendRecords(g.partition, nil, recs, func(int64, int16) {})
		}
	}
}

func (m *Machine) offsetExpired(now int64, g *group, tp topicPartition) bool {
	o := g.offsets[tp]
	base := o.commitMs
	switch {
	case g.protocolType != "" && g.state == Empty:
		base = g.stateMs
	case g.protocolType == "":
	case g.state == Stable:
		if subscribed, ok := g.subscribedTopics(); !ok || subscribed[tp.topic] {
			return false
		}
	default:
		return false
	}
	if o.expireMs >= 0 {
		return now >= o.expireMs
	}
	return base+m.cfg.OffsetsRetentionMs <= now
}

func compareTP(a, b topicPartition) int {
	if a.topic != b.topic {
		if a.topic < b.topic {
			return -1
		}
		return 1
	}
	return int(a.partition - b.partition)
}

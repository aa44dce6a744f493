package txn

import (
	"math"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon/group"
)

// initProducerID serves InitProducerId with a transactional id: a new id
// starts at epoch 0; a known one gets its epoch bumped (a new producer id
// once the epoch is exhausted), which fences every older producer of that
// id. An ongoing transaction of the old producer is aborted first, with
// the bumped epoch; the caller gets CONCURRENT_TRANSACTIONS and retries
// once the abort is complete. From v3 a producer may name its id and
// epoch (KIP-360): a stale pair is PRODUCER_FENCED, a retry of the last
// bump gets the same answer.
func (m *Machine) initProducerID(now int64, call CallID, req *kmsg.InitProducerIDRequest) {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	fail := func(code int16) {
		resp.ErrorCode = code
		m.reply(call, resp)
	}
	id := *req.TransactionalID
	if code := m.coordinatorError(id); code != 0 {
		fail(code)
		return
	}
	if req.TransactionTimeoutMillis <= 0 || req.TransactionTimeoutMillis > m.cfg.TransactionMaxTimeoutMs {
		fail(kerr.InvalidTransactionTimeout.Code)
		return
	}
	t := m.txns[id]
	if t == nil {
		t = &txnMeta{id: id, partition: PartitionFor(id, m.partitionCount), producerID: -1, epoch: -1, lastEpoch: -1,
			state: Empty, partitions: map[TopicPartition]bool{}}
		m.txns[id] = t
		m.newProducerID(now, t, func(code int16) {
			if code != 0 {
				delete(m.txns, id)
				fail(code)
				return
			}
			m.bumpEpoch(now, t, req.TransactionTimeoutMillis, resp, call)
		})
		return
	}
	if t.pending || t.state == PrepareCommit || t.state == PrepareAbort {
		fail(kerr.ConcurrentTransactions.Code)
		return
	}
	if req.ProducerID >= 0 {
		switch {
		case req.ProducerID == t.producerID && req.ProducerEpoch == t.epoch:
		case req.ProducerID == t.producerID && req.ProducerEpoch == t.lastEpoch && t.state == Empty:
			resp.ProducerID, resp.ProducerEpoch = t.producerID, t.epoch // a retry of the last bump
			m.reply(call, resp)
			return
		default:
			fail(kerr.ProducerFenced.Code)
			return
		}
	}
	if t.state == Ongoing {
		m.prepareAbort(now, t, true, nil)
		fail(kerr.ConcurrentTransactions.Code)
		return
	}
	m.bumpEpoch(now, t, req.TransactionTimeoutMillis, resp, call)
}

// newProducerID gives t a fresh producer id (epoch -1: the bump that
// follows makes it 0).
func (m *Machine) newProducerID(now int64, t *txnMeta, done func(code int16)) {
	t.pending = true
	token := m.await(func(_ int64, code int16, pid int64) {
		if m.txns[t.id] != t {
			done(kerr.NotCoordinator.Code)
			return
		}
		t.pending = false
		if code == 0 {
			t.producerID, t.epoch, t.lastEpoch = pid, -1, -1
		}
		done(code)
	})
	m.out = append(m.out, AllocateID{Token: token})
}

// bumpEpoch stores t as Empty with the next epoch and answers with it.
func (m *Machine) bumpEpoch(now int64, t *txnMeta, timeoutMs int32, resp *kmsg.InitProducerIDResponse, call CallID) {
	if t.epoch >= math.MaxInt16-1 {
		m.newProducerID(now, t, func(code int16) {
			if code != 0 {
				resp.ErrorCode = code
				m.reply(call, resp)
				return
			}
			m.bumpEpoch(now, t, timeoutMs, resp, call)
		})
		return
	}
	next := *t
	next.lastEpoch, next.epoch = t.epoch, t.epoch+1
	next.state, next.timeoutMs, next.updateMs, next.startMs = Empty, timeoutMs, now, -1
	next.partitions = map[TopicPartition]bool{}
	m.transition(t, next, func(_ int64, code int16) {
		if code != 0 {
			resp.ErrorCode = code
		} else {
			resp.ProducerID, resp.ProducerEpoch = t.producerID, t.epoch
		}
		m.reply(call, resp)
	})
}

// producerError checks a request's producer id and epoch against t: an
// unknown id or another producer id is INVALID_PRODUCER_ID_MAPPING, an
// older epoch PRODUCER_FENCED.
func (m *Machine) producerError(id string, producerID int64, epoch int16) (*txnMeta, int16) {
	if code := m.coordinatorError(id); code != 0 {
		return nil, code
	}
	t := m.txns[id]
	switch {
	case t == nil || t.producerID != producerID:
		return nil, kerr.InvalidProducerIDMapping.Code
	case epoch != t.epoch:
		return nil, kerr.ProducerFenced.Code
	}
	return t, 0
}

// add adds partitions to t's transaction, beginning it if none is
// ongoing; done runs with the outcome once it is stored (at once when
// nothing changes).
func (m *Machine) add(now int64, t *txnMeta, tps []TopicPartition, done func(code int16)) {
	if t.pending || t.state == PrepareCommit || t.state == PrepareAbort {
		done(kerr.ConcurrentTransactions.Code)
		return
	}
	if t.state == Ongoing && !slices.ContainsFunc(tps, func(tp TopicPartition) bool { return !t.partitions[tp] }) {
		done(0)
		return
	}
	next := *t
	next.partitions = map[TopicPartition]bool{}
	if t.state == Ongoing {
		for tp := range t.partitions {
			next.partitions[tp] = true
		}
	} else {
		next.startMs = now
	}
	for _, tp := range tps {
		next.partitions[tp] = true
	}
	next.state, next.updateMs = Ongoing, now
	m.transition(t, next, func(_ int64, code int16) { done(code) })
}

// addPartitions serves AddPartitionsToTxn: v0-3 from a producer for one
// transaction; v4+ (KIP-890) batched, from brokers too, whose
// verify_only entries only check that the partitions are in the ongoing
// transaction (INVALID_TXN_STATE if not).
func (m *Machine) addPartitions(now int64, call CallID, req *kmsg.AddPartitionsToTxnRequest) {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if req.Version < 4 {
		var tps []TopicPartition
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				tps = append(tps, TopicPartition{rt.Topic, p})
			}
		}
		m.addFor(now, req.TransactionalID, req.ProducerID, req.ProducerEpoch, false, tps, func(codes []int16) {
			for i, tp := range tps {
				if len(resp.Topics) == 0 || resp.Topics[len(resp.Topics)-1].Topic != tp.Topic {
					resp.Topics = append(resp.Topics, kmsg.AddPartitionsToTxnResponseTopic{Topic: tp.Topic})
				}
				rt := &resp.Topics[len(resp.Topics)-1]
				rt.Partitions = append(rt.Partitions, kmsg.AddPartitionsToTxnResponseTopicPartition{Partition: tp.Partition, ErrorCode: codes[i]})
			}
			m.reply(call, resp)
		})
		return
	}
	left := len(req.Transactions)
	resp.Transactions = make([]kmsg.AddPartitionsToTxnResponseTransaction, len(req.Transactions))
	if left == 0 {
		m.reply(call, resp)
		return
	}
	for i, rx := range req.Transactions {
		var tps []TopicPartition
		for _, rt := range rx.Topics {
			for _, p := range rt.Partitions {
				tps = append(tps, TopicPartition{rt.Topic, p})
			}
		}
		m.addFor(now, rx.TransactionalID, rx.ProducerID, rx.ProducerEpoch, rx.VerifyOnly, tps, func(codes []int16) {
			out := &resp.Transactions[i]
			out.TransactionalID = rx.TransactionalID
			for j, tp := range tps {
				if len(out.Topics) == 0 || out.Topics[len(out.Topics)-1].Topic != tp.Topic {
					out.Topics = append(out.Topics, kmsg.AddPartitionsToTxnResponseTransactionTopic{Topic: tp.Topic})
				}
				rt := &out.Topics[len(out.Topics)-1]
				rt.Partitions = append(rt.Partitions, kmsg.AddPartitionsToTxnResponseTransactionTopicPartition{Partition: tp.Partition, ErrorCode: codes[j]})
			}
			if left--; left == 0 {
				m.reply(call, resp)
			}
		})
	}
}

// addFor adds (or with verifyOnly checks) one transaction's partitions and
// calls done with each one's error code.
func (m *Machine) addFor(now int64, id string, producerID int64, epoch int16, verifyOnly bool, tps []TopicPartition, done func(codes []int16)) {
	all := func(code int16) {
		codes := make([]int16, len(tps))
		for i := range codes {
			codes[i] = code
		}
		done(codes)
	}
	t, code := m.producerError(id, producerID, epoch)
	if code != 0 {
		all(code)
		return
	}
	if verifyOnly {
		codes := make([]int16, len(tps))
		for i, tp := range tps {
			if t.state != Ongoing || !t.partitions[tp] {
				codes[i] = kerr.InvalidTxnState.Code
			}
		}
		done(codes)
		return
	}
	m.add(now, t, tps, all)
}

// addOffsets serves AddOffsetsToTxn: the group's __consumer_offsets
// partition joins the transaction, so that its offsets get a marker.
func (m *Machine) addOffsets(now int64, call CallID, req *kmsg.AddOffsetsToTxnRequest) {
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	t, code := m.producerError(req.TransactionalID, req.ProducerID, req.ProducerEpoch)
	if code == 0 && m.offsetsPartitions == 0 {
		code = kerr.CoordinatorNotAvailable.Code
	}
	if code != 0 {
		resp.ErrorCode = code
		m.reply(call, resp)
		return
	}
	tp := TopicPartition{group.OffsetsTopic, group.PartitionFor(req.Group, m.offsetsPartitions)}
	m.add(now, t, []TopicPartition{tp}, func(code int16) {
		resp.ErrorCode = code
		m.reply(call, resp)
	})
}

// endTxn serves EndTxn: an ongoing transaction is prepared (answered once
// stored), then its markers are written and it completes. A retry of a
// decision already taken is answered as the first time; the opposite
// decision is INVALID_TXN_STATE.
func (m *Machine) endTxn(now int64, call CallID, req *kmsg.EndTxnRequest) {
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	answer := func(code int16) {
		resp.ErrorCode = code
		m.reply(call, resp)
	}
	t, code := m.producerError(req.TransactionalID, req.ProducerID, req.ProducerEpoch)
	if code != 0 {
		answer(code)
		return
	}
	if t.pending {
		answer(kerr.ConcurrentTransactions.Code)
		return
	}
	switch {
	case t.state == Ongoing && req.Commit:
		next := *t
		next.state, next.updateMs = PrepareCommit, now
		m.transition(t, next, func(_ int64, code int16) {
			answer(code)
			if code == 0 {
				m.writeMarkers(t)
			}
		})
	case t.state == Ongoing:
		m.prepareAbort(now, t, false, answer)
	case t.state == CompleteCommit && req.Commit, t.state == CompleteAbort && !req.Commit:
		answer(0)
	case t.state == PrepareCommit && req.Commit, t.state == PrepareAbort && !req.Commit:
		answer(kerr.ConcurrentTransactions.Code)
	default:
		answer(kerr.InvalidTxnState.Code)
	}
}

// describe serves DescribeTransactions.
func (m *Machine) describe(call CallID, req *kmsg.DescribeTransactionsRequest) {
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		s := kmsg.NewDescribeTransactionsResponseTransactionState()
		s.TransactionalID = id
		t := m.txns[id]
		switch code := m.coordinatorError(id); {
		case code != 0:
			s.ErrorCode = code
		case t == nil:
			s.ErrorCode = kerr.TransactionalIDNotFound.Code
		default:
			s.State, s.TimeoutMillis, s.StartTimestamp = t.state.String(), t.timeoutMs, t.startMs
			s.ProducerID, s.ProducerEpoch = t.producerID, t.epoch
			for _, tp := range t.sortedPartitions() {
				if n := len(s.Topics); n == 0 || s.Topics[n-1].Topic != tp.Topic {
					s.Topics = append(s.Topics, kmsg.DescribeTransactionsResponseTransactionStateTopic{Topic: tp.Topic})
				}
				s.Topics[len(s.Topics)-1].Partitions = append(s.Topics[len(s.Topics)-1].Partitions, tp.Partition)
			}
		}
		resp.TransactionStates = append(resp.TransactionStates, s)
	}
	m.reply(call, resp)
}

// list serves ListTransactions: the ids of the partitions this coordinator
// serves, filtered by state, producer id and running time (v1+).
func (m *Machine) list(now int64, call CallID, req *kmsg.ListTransactionsRequest) {
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	if len(m.Partitions(PartitionLoading)) > 0 {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
	}
	resp.UnknownStateFilters = []string{}
	for _, s := range req.StateFilters {
		if !slices.ContainsFunc(allStates, func(st State) bool { return st.String() == s }) {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, s)
		}
	}
	for _, id := range sortedIDs(m.txns) {
		t := m.txns[id]
		switch {
		case m.partitions[t.partition].state != PartitionActive:
		case len(req.StateFilters) > 0 && !slices.Contains(req.StateFilters, t.state.String()):
		case len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, t.producerID):
		case req.DurationFilterMillis >= 0 && req.Version >= 1 && (t.state != Ongoing || now-t.startMs < req.DurationFilterMillis):
		default:
			s := kmsg.NewListTransactionsResponseTransactionState()
			s.TransactionalID, s.ProducerID, s.TransactionState = id, t.producerID, t.state.String()
			resp.TransactionStates = append(resp.TransactionStates, s)
		}
	}
	m.reply(call, resp)
}

var allStates = []State{Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort, Dead, PrepareEpochFence}

func sortedIDs(m map[string]*txnMeta) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, strings.Compare)
	return ids
}

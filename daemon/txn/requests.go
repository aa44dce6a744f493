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
// epoch (KIP-360): a stale pair is PRODUCER_FENCED; the epoch before the
// last bump (a retry of InitProducerId, or a producer that missed the
// bump of a timeout's abort or of its own end in transaction version 2)
// gets the current epoch without another bump, as Kafka answers.
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
			state: Empty, partitions: map[TopicPartition]bool{}, prevProducerID: -1, nextProducerID: -1}
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
		case req.ProducerID == t.producerID && req.ProducerEpoch == t.lastEpoch && t.state != Ongoing:
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
	m.allocateFor(t, func(_ int64, code int16, pid int64) {
		if code == 0 {
			t.producerID, t.epoch, t.lastEpoch = pid, -1, -1
		}
		done(code)
	})
}

// allocateFor asks for a producer id for t, which is pending meanwhile;
// done gets it, or NOT_COORDINATOR if t was dropped meanwhile.
func (m *Machine) allocateFor(t *txnMeta, done func(now int64, code int16, pid int64)) {
	t.pending = true
	token := m.await(func(now int64, code int16, pid int64) {
		if m.txns[t.id] != t {
			done(now, kerr.NotCoordinator.Code, -1)
			return
		}
		t.pending = false
		done(now, code, pid)
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
// nothing changes). tv2 says whether the producer runs transaction
// version 2 (a partition leader adds the partition for it).
func (m *Machine) add(now int64, t *txnMeta, tps []TopicPartition, tv2 bool, done func(code int16)) {
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
	next.state, next.updateMs, next.tv2 = Ongoing, now, tv2
	m.transition(t, next, func(_ int64, code int16) { done(code) })
}

// addMode is how AddPartitionsToTxn treats its partitions.
type addMode int8

const (
	addExplicit addMode = iota // v0-3: the producer adds them
	addVerify                  // v4+ verify_only: a leader checks they were added (KIP-890 part 1)
	addImplicit                // v4+: a leader adds them on the first produce (KIP-890 part 2)
)

// addPartitions serves AddPartitionsToTxn: v0-3 from a producer for one
// transaction; v4+ (KIP-890) batched, from brokers, whose verify_only
// entries only check that the partitions are in the ongoing transaction
// (INVALID_TXN_STATE if not) and whose other entries add them for a
// producer of transaction version 2, which sends no AddPartitionsToTxn.
func (m *Machine) addPartitions(now int64, call CallID, req *kmsg.AddPartitionsToTxnRequest) {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if req.Version < 4 {
		var tps []TopicPartition
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				tps = append(tps, TopicPartition{rt.Topic, p})
			}
		}
		m.addFor(now, req.TransactionalID, req.ProducerID, req.ProducerEpoch, addExplicit, tps, func(codes []int16) {
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
		mode := addImplicit
		if rx.VerifyOnly {
			mode = addVerify
		}
		m.addFor(now, rx.TransactionalID, rx.ProducerID, rx.ProducerEpoch, mode, tps, func(codes []int16) {
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

// addFor adds (or checks) one transaction's partitions and calls done
// with each one's error code.
func (m *Machine) addFor(now int64, id string, producerID int64, epoch int16, mode addMode, tps []TopicPartition, done func(codes []int16)) {
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
	if mode == addVerify {
		codes := make([]int16, len(tps))
		for i, tp := range tps {
			if t.state != Ongoing || !t.partitions[tp] {
				codes[i] = kerr.InvalidTxnState.Code
			}
		}
		done(codes)
		return
	}
	m.add(now, t, tps, mode == addImplicit, all)
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
	m.add(now, t, []TopicPartition{tp}, false, func(code int16) {
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
	if req.Version >= 5 {
		m.endTxnV2(now, req, resp, answer)
		return
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

// endTxnV2 serves EndTxn v5+ (KIP-890 part 2): every end bumps the
// producer epoch, so the markers carry an epoch no batch of the
// transaction has and a late batch of it is fenced; the answer names the
// producer id and epoch of the next transaction (a new id once the epoch
// is exhausted). A retry carries the epoch before the bump (or the
// previous id after an overflow) and gets the first answer once the
// transaction is complete. An abort with no transaction ongoing is
// allowed: it just bumps the epoch. Per state, for a retry and for the
// current epoch:
//
//	                abort retry   abort      commit retry   commit
//	Empty           FENCED        bump       FENCED         INVALID
//	CompleteAbort   OK            bump       FENCED         INVALID
//	CompleteCommit  INVALID       bump       OK             INVALID
//
// FENCED for a commit retry after an abort: the coordinator aborted the
// transaction on its own (a timeout), bumping the epoch under a commit
// already on its way, which did not take effect.
func (m *Machine) endTxnV2(now int64, req *kmsg.EndTxnRequest, resp *kmsg.EndTxnResponse, answer func(int16)) {
	id := req.TransactionalID
	if code := m.coordinatorError(id); code != 0 {
		answer(code)
		return
	}
	t := m.txns[id]
	if t == nil || (req.ProducerID != t.producerID && req.ProducerID != t.prevProducerID) {
		answer(kerr.InvalidProducerIDMapping.Code)
		return
	}
	current := req.ProducerID == t.producerID && req.ProducerEpoch == t.epoch
	retry := (req.ProducerID == t.producerID && req.ProducerEpoch == t.epoch-1) ||
		(req.ProducerID == t.prevProducerID && req.ProducerEpoch == math.MaxInt16-1 && t.epoch == 0)
	if !current && !retry {
		answer(kerr.ProducerFenced.Code)
		return
	}
	if t.pending {
		answer(kerr.ConcurrentTransactions.Code)
		return
	}
	succeed := func(code int16) {
		if code == 0 {
			resp.ProducerID, resp.ProducerEpoch = t.producerID, t.epoch
			if t.nextProducerID >= 0 {
				resp.ProducerID, resp.ProducerEpoch = t.nextProducerID, 0
			}
		}
		answer(code)
	}
	switch {
	case t.state == Ongoing && current:
		next := PrepareAbort
		if req.Commit {
			next = PrepareCommit
		}
		m.prepareBumped(now, t, next, -1, succeed)
	case t.state == Ongoing:
		answer(kerr.ProducerFenced.Code)
	case t.state == PrepareCommit || t.state == PrepareAbort:
		if retry && req.Commit != (t.state == PrepareCommit) {
			answer(kerr.InvalidTxnState.Code)
		} else {
			answer(kerr.ConcurrentTransactions.Code)
		}
	case t.state != Empty && t.state != CompleteCommit && t.state != CompleteAbort:
		answer(kerr.InvalidTxnState.Code)
	case current && !req.Commit:
		m.prepareBumped(now, t, PrepareAbort, -1, succeed) // an empty transaction: no markers to write
	case current:
		answer(kerr.InvalidTxnState.Code)
	case t.state == CompleteCommit && req.Commit, t.state == CompleteAbort && !req.Commit:
		succeed(0)
	case t.state == CompleteCommit:
		answer(kerr.InvalidTxnState.Code)
	default:
		answer(kerr.ProducerFenced.Code)
	}
}

// prepareBumped stores t's transaction as prepared (state) with the next
// epoch, first taking a new producer id (nextPID) for the transactions
// after this one when the epoch is exhausted, and writes its markers once
// that is stored; done runs with the outcome of the store.
func (m *Machine) prepareBumped(now int64, t *txnMeta, state State, nextPID int64, done func(code int16)) {
	if t.epoch >= math.MaxInt16-1 && nextPID < 0 {
		m.allocateFor(t, func(now int64, code int16, pid int64) {
			if code != 0 {
				done(code)
				return
			}
			m.prepareBumped(now, t, state, pid, done)
		})
		return
	}
	next := *t
	next.state, next.updateMs, next.tv2, next.nextProducerID = state, now, true, nextPID
	next.lastEpoch, next.epoch = t.epoch, t.epoch+1
	if t.state != Ongoing {
		next.partitions, next.startMs = map[TopicPartition]bool{}, now
	}
	m.transition(t, next, func(_ int64, code int16) {
		done(code)
		if code == 0 {
			m.writeMarkers(t)
		}
	})
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

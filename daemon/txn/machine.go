package txn

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon/group"
)

// CallID identifies one request waiting for its Reply.
type CallID uint64

// Token identifies one Append or AllocateID waiting for its outcome.
type Token uint64

// Action is an output of the Machine.
type Action interface{ isAction() }

// Reply answers a request with its response kind (version not set).
type Reply struct {
	Call CallID
	Resp kmsg.Response
}

// Append asks the shell to append one __transaction_state record (a nil
// Value is a tombstone) to Partition, acks=all, and to report Appended.
type Append struct {
	Token      Token
	Partition  int32
	Key, Value []byte
}

// AllocateID asks the shell for a new producer id, reported with
// IDAllocated.
type AllocateID struct{ Token Token }

// WriteMarkers asks the shell to have the leaders of Partitions append a
// commit or abort marker for the producer (WriteTxnMarkers), retrying
// until every one is written or the coordinator loses the partition, and
// then to report MarkersWritten.
type WriteMarkers struct {
	Partition        int32 // the transaction's __transaction_state partition
	TransactionalID  string
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
	Partitions       []TopicPartition
}

func (Reply) isAction()        {}
func (Append) isAction()       {}
func (AllocateID) isAction()   {}
func (WriteMarkers) isAction() {}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// PartitionState is what the coordinator does with a __transaction_state
// partition: nothing, load it, or serve it.
type PartitionState int8

const (
	PartitionNone PartitionState = iota
	PartitionLoading
	PartitionActive
)

type partition struct {
	state PartitionState
	epoch int32 // the coordinator epoch: the partition's leader epoch
}

// Machine is the transaction coordinator without I/O. Time is milliseconds,
// passed with every event. Not safe for concurrent use.
type Machine struct {
	cfg Config

	partitionCount    int32
	offsetsPartitions int32 // of __consumer_offsets, for AddOffsetsToTxn
	partitions        map[int32]partition
	txns              map[string]*txnMeta

	pending   map[Token]func(now int64, code int16, id int64)
	nextToken Token
	out       []Action
	// parked holds, per transactional id, requests that arrived while its
	// markers were being written; they are served once it completes.
	parked map[string][]parkedRequest
	// leaseLost: as the group machine's (SetLeaseLost).
	leaseLost bool
}

// parkedRequest is a request waiting for its transaction to complete,
// until a deadline after which it is answered CONCURRENT_TRANSACTIONS.
type parkedRequest struct {
	call    CallID
	req     kmsg.Request
	untilMs int64
}

// parkMs bounds how long a request waits for markers before it is
// answered CONCURRENT_TRANSACTIONS (and the client retries).
const parkMs = 1000

// Config is the coordinator's configuration.
type Config struct {
	// TransactionMaxTimeoutMs is transaction.max.timeout.ms: the largest
	// timeout a producer may ask for.
	TransactionMaxTimeoutMs int32
	// TransactionalIDExpirationMs is transactional.id.expiration.ms: an
	// id without a transaction for this long is forgotten.
	TransactionalIDExpirationMs int64
}

// NewMachine returns a coordinator serving no partition yet.
func NewMachine(cfg Config) *Machine {
	return &Machine{cfg: cfg, partitions: map[int32]partition{}, txns: map[string]*txnMeta{},
		pending: map[Token]func(int64, int16, int64){}, parked: map[string][]parkedRequest{}}
}

// TakeActions returns the actions produced since the last call, in order.
func (m *Machine) TakeActions() []Action {
	out := m.out
	m.out = nil
	return out
}

func (m *Machine) reply(call CallID, resp kmsg.Response) {
	m.out = append(m.out, Reply{Call: call, Resp: resp})
}

func (m *Machine) await(done func(now int64, code int16, id int64)) Token {
	m.nextToken++
	m.pending[m.nextToken] = done
	return m.nextToken
}

// Appended reports an Append's outcome: 0 once the ISR holds the record,
// else the Kafka error code to answer with.
func (m *Machine) Appended(now int64, token Token, code int16) { m.complete(now, token, code, -1) }

// IDAllocated reports an AllocateID's outcome: a producer id, or an error
// code.
func (m *Machine) IDAllocated(now int64, token Token, id int64, code int16) {
	m.complete(now, token, code, id)
}

func (m *Machine) complete(now int64, token Token, code int16, id int64) {
	done, ok := m.pending[token]
	if !ok {
		panic(fmt.Sprintf("txn: outcome for unknown token %d", token))
	}
	delete(m.pending, token)
	done(now, code, id)
}

// SetPartitionCount sets the partition counts of __transaction_state and
// __consumer_offsets (0: the topic does not exist).
func (m *Machine) SetPartitionCount(n, offsets int32) {
	m.partitionCount, m.offsetsPartitions = n, offsets
}

// SetPartition changes what the coordinator does with partition p, in
// coordinator epoch epoch. Leaving a partition forgets its transactions
// (the next leader loads them); activating one resumes the markers of
// the transactions it left prepared.
func (m *Machine) SetPartition(now int64, p int32, state PartitionState, epoch int32) {
	if state == PartitionNone {
		delete(m.partitions, p)
		for id, t := range m.txns {
			if t.partition == p {
				delete(m.txns, id)
			}
		}
		m.unpark(now, func(id string) bool { return m.partitionCount == 0 || PartitionFor(id, m.partitionCount) == p })
		return
	}
	m.partitions[p] = partition{state: state, epoch: epoch}
	if state != PartitionActive {
		return
	}
	for _, id := range slices.Sorted(maps.Keys(m.txns)) {
		if t := m.txns[id]; t.partition == p && (t.state == PrepareCommit || t.state == PrepareAbort) {
			m.writeMarkers(t)
		}
	}
}

// Partitions lists the partitions in state s, in order.
func (m *Machine) Partitions(s PartitionState) []int32 {
	var out []int32
	for p, st := range m.partitions {
		if st.state == s {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// PartitionFor is the __transaction_state partition of a transactional
// id: Kafka's hash, as for groups.
func PartitionFor(id string, n int32) int32 { return group.PartitionFor(id, n) }

// SetLeaseLost says whether this broker's controller session may have
// lapsed: until it is renewed every request is answered NOT_COORDINATOR,
// so a deposed coordinator serves no stale transaction states.
func (m *Machine) SetLeaseLost(lost bool) { m.leaseLost = lost }

// coordinatorError is the error code for a request about id that this
// coordinator cannot serve, or 0.
func (m *Machine) coordinatorError(id string) int16 {
	if m.partitionCount == 0 {
		return kerr.CoordinatorNotAvailable.Code
	}
	if m.leaseLost {
		return kerr.NotCoordinator.Code
	}
	switch m.partitions[PartitionFor(id, m.partitionCount)].state {
	case PartitionLoading:
		return kerr.CoordinatorLoadInProgress.Code
	case PartitionActive:
		return 0
	}
	return kerr.NotCoordinator.Code
}

// Request serves one transaction API request; the Reply may come later.
// A producer's request about a transaction whose markers are being
// written waits (up to parkMs) until they are, and so does a leader's
// implicit add while any change of the transaction is in flight (the
// leaders of a KIP-890 part 2 producer's partitions add them
// concurrently): answering CONCURRENT_TRANSACTIONS at once would cost the
// client, or the leader's produce, a retry backoff per partition.
func (m *Machine) Request(now int64, call CallID, req kmsg.Request) {
	m.serveOrPark(now, parkedRequest{call: call, req: req, untilMs: now + parkMs})
}

// serveOrPark serves r unless its transaction's markers are being
// written, or, for a leader's implicit add, any change is in flight.
func (m *Machine) serveOrPark(now int64, r parkedRequest) {
	if id := producerTxnID(r.req); id != "" {
		if t := m.txns[id]; t != nil && t.pending && (t.state == PrepareCommit || t.state == PrepareAbort || isImplicitAdd(r.req)) {
			m.parked[id] = append(m.parked[id], r)
			return
		}
	}
	m.serve(now, r.call, r.req)
}

// producerTxnID is the transactional id a producer's request is about,
// "" for the others (admin requests, brokers' batched verifications). A
// leader's add of one transaction's partitions (KIP-890 part 2) is the
// producer's first produce of its next transaction: it waits too.
func producerTxnID(req kmsg.Request) string {
	switch req := req.(type) {
	case *kmsg.InitProducerIDRequest:
		return *req.TransactionalID
	case *kmsg.AddPartitionsToTxnRequest:
		if req.Version < 4 {
			return req.TransactionalID
		}
		if len(req.Transactions) == 1 && !req.Transactions[0].VerifyOnly {
			return req.Transactions[0].TransactionalID
		}
	case *kmsg.AddOffsetsToTxnRequest:
		return req.TransactionalID
	case *kmsg.EndTxnRequest:
		return req.TransactionalID
	}
	return ""
}

// isImplicitAdd says whether req is a partition leader's add for a
// transaction version 2 producer (KIP-890 part 2).
func isImplicitAdd(req kmsg.Request) bool {
	a, ok := req.(*kmsg.AddPartitionsToTxnRequest)
	return ok && a.Version >= 4 && len(a.Transactions) == 1 && !a.Transactions[0].VerifyOnly
}

// unpark serves the parked requests of the ids match selects.
func (m *Machine) unpark(now int64, match func(id string) bool) {
	for _, id := range slices.Sorted(maps.Keys(m.parked)) {
		if match(id) {
			reqs := m.parked[id]
			delete(m.parked, id)
			for _, r := range reqs {
				m.serveOrPark(now, r) // the first may start another change
			}
		}
	}
}

func (m *Machine) serve(now int64, call CallID, req kmsg.Request) {
	switch req := req.(type) {
	case *kmsg.InitProducerIDRequest:
		m.initProducerID(now, call, req)
	case *kmsg.AddPartitionsToTxnRequest:
		m.addPartitions(now, call, req)
	case *kmsg.AddOffsetsToTxnRequest:
		m.addOffsets(now, call, req)
	case *kmsg.EndTxnRequest:
		m.endTxn(now, call, req)
	case *kmsg.DescribeTransactionsRequest:
		m.describe(call, req)
	case *kmsg.ListTransactionsRequest:
		m.list(now, call, req)
	default:
		panic(fmt.Sprintf("txn: request %T is not a transaction API", req))
	}
}

// transition appends the record of next and, once the ISR holds it, makes
// it t's state; done runs with the outcome. t is marked pending meanwhile:
// requests about it get CONCURRENT_TRANSACTIONS.
func (m *Machine) transition(t *txnMeta, next txnMeta, done func(now int64, code int16)) {
	t.pending = true
	token := m.await(func(now int64, code int16, _ int64) {
		if m.txns[t.id] != t { // the partition was lost meanwhile
			done(now, kerr.NotCoordinator.Code)
			return
		}
		t.pending = false
		if code == 0 {
			t.apply(next)
		}
		done(now, code)
		m.unpark(now, func(id string) bool { return id == t.id })
	})
	m.out = append(m.out, Append{Token: token, Partition: t.partition, Key: recordKey(t.id), Value: next.recordValue()})
}

// writeMarkers asks for t's markers; t stays pending until they are
// written.
func (m *Machine) writeMarkers(t *txnMeta) {
	t.pending = true
	m.out = append(m.out, WriteMarkers{
		Partition: t.partition, TransactionalID: t.id, ProducerID: t.producerID, ProducerEpoch: t.epoch,
		Commit: t.state == PrepareCommit, CoordinatorEpoch: m.partitions[t.partition].epoch,
		Partitions: t.sortedPartitions(),
	})
}

// MarkersWritten reports that every marker of the transaction's
// WriteMarkers is in its partition: the transaction completes (its record
// appended), moving to the new producer id its end took if the epoch was
// exhausted. A report for a transaction no longer prepared is ignored.
func (m *Machine) MarkersWritten(now int64, id string, producerID int64, epoch int16) {
	t := m.txns[id]
	if t == nil || t.producerID != producerID || t.epoch != epoch || (t.state != PrepareCommit && t.state != PrepareAbort) {
		return
	}
	next := *t
	next.state = CompleteAbort
	if t.state == PrepareCommit {
		next.state = CompleteCommit
	}
	next.partitions, next.updateMs = map[TopicPartition]bool{}, now
	if t.nextProducerID >= 0 { // the epoch is exhausted: the next transaction has a new id
		next.prevProducerID, next.producerID, next.nextProducerID = t.producerID, t.nextProducerID, -1
		next.epoch, next.lastEpoch = 0, -1
	}
	m.transition(t, next, func(now int64, code int16) {
		if code != 0 && m.txns[id] == t {
			m.writeMarkers(t) // try the completion again after writing the markers again (idempotent)
			return
		}
		m.unpark(now, func(pid string) bool { return pid == id })
	})
}

// Tick aborts transactions past their timeout (fencing their producer
// with a new epoch, as Kafka does) and forgets ids unused for
// transactional.id.expiration.ms.
func (m *Machine) Tick(now int64) {
	for _, id := range slices.Sorted(maps.Keys(m.parked)) {
		var kept []parkedRequest
		for _, r := range m.parked[id] {
			if now >= r.untilMs {
				m.serve(now, r.call, r.req) // CONCURRENT_TRANSACTIONS: the client retries
			} else {
				kept = append(kept, r)
			}
		}
		if m.parked[id] = kept; len(kept) == 0 {
			delete(m.parked, id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(m.txns)) {
		t := m.txns[id]
		if t.pending || m.partitions[t.partition].state != PartitionActive {
			continue
		}
		switch {
		case t.state == Ongoing && now >= t.startMs+int64(t.timeoutMs):
			m.prepareAbort(now, t, true, nil)
		case (t.state == Empty || t.state == CompleteCommit || t.state == CompleteAbort) &&
			now >= t.updateMs+m.cfg.TransactionalIDExpirationMs:
			m.expire(t)
		}
	}
}

// prepareAbort moves an Ongoing transaction to PrepareAbort, with a bumped
// epoch when bump (a timeout, or InitProducerId fencing the old producer),
// and writes its markers once that is stored; done, if set, runs with the
// outcome of the store. A transaction version 2 producer's exhausted
// epoch moves on to a new producer id, as its own ends do.
func (m *Machine) prepareAbort(now int64, t *txnMeta, bump bool, done func(code int16)) {
	if done == nil {
		done = func(int16) {}
	}
	if bump && t.tv2 {
		m.prepareBumped(now, t, PrepareAbort, -1, done)
		return
	}
	next := *t
	next.state, next.updateMs = PrepareAbort, now
	if bump && t.epoch < math.MaxInt16-1 {
		next.lastEpoch, next.epoch = t.epoch, t.epoch+1
	}
	m.transition(t, next, func(_ int64, code int16) {
		done(code)
		if code == 0 {
			m.writeMarkers(t)
		}
	})
}

// expire deletes an idle transactional id with a tombstone: it is Dead
// until the tombstone is stored, then gone.
func (m *Machine) expire(t *txnMeta) {
	t.pending = true
	prev := t.state
	t.state = Dead
	token := m.await(func(_ int64, code int16, _ int64) {
		if m.txns[t.id] != t {
			return
		}
		t.pending = false
		if code == 0 {
			delete(m.txns, t.id)
		} else {
			t.state = prev
		}
	})
	m.out = append(m.out, Append{Token: token, Partition: t.partition, Key: recordKey(t.id)})
}

// Load replays one __transaction_state record of partition p (last record
// wins; a nil value deletes). Records of other kinds are skipped.
func (m *Machine) Load(p int32, key, value []byte) error {
	id, ok, err := parseKey(key)
	if err != nil || !ok {
		return err
	}
	if value == nil {
		delete(m.txns, id)
		return nil
	}
	t, err := parseValue(id, p, value)
	if err != nil {
		return err
	}
	m.txns[id] = t
	return nil
}

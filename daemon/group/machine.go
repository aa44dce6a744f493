package group

import (
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CallID identifies one request waiting for its Reply.
type CallID uint64

// Token identifies one Append waiting for Appended.
type Token uint64

// Caller is who sent a request: its call id and, for JoinGroup, the
// client's id and host as DescribeGroups reports them.
type Caller struct {
	Call     CallID
	ClientID string
	Host     string
}

// Action is an output of the Machine: a Reply or an Append.
type Action interface{ isAction() }

// Reply answers a request. Resp is the request's response kind; the caller
// sets its version.
type Reply struct {
	Call CallID
	Resp kmsg.Response
}

// Append asks the shell to append Records to the partition of
// __consumer_offsets as one batch and to report the outcome with Appended.
type Append struct {
	Token     Token
	Partition int32
	Records   []Record
	Producer  *TxnProducer // a transactional batch of this producer (TxnOffsetCommit); nil: none
}

// Record is one __consumer_offsets record; a nil Value is a tombstone.
type Record struct{ Key, Value []byte }

func (Reply) isAction()  {}
func (Append) isAction() {}

// PartitionState is what the coordinator does with a __consumer_offsets
// partition: nothing (another broker leads it), load it, or serve it.
type PartitionState int8

const (
	PartitionNone PartitionState = iota
	PartitionLoading
	PartitionActive
)

// Machine is the group coordinator without I/O: requests, ticks, append
// outcomes and replayed records go in; replies and appends come out through
// TakeActions. Time is milliseconds, passed with every event. It is not
// safe for concurrent use.
type Machine struct {
	cfg         Config
	newMemberID func(clientID string) string

	partitionCount int32
	partitions     map[int32]PartitionState
	groups         map[string]*group
	// leaseLost is set while this broker may have been fenced by the
	// controller (SetLeaseLost): another broker may lead its partitions
	// and hold newer commits, so it answers from memory no more.
	leaseLost bool

	appends   map[Token]func(now int64, code int16)
	nextToken Token
	nextCheck int64 // next offset-retention check
	out       []Action
}

// NewMachine returns a coordinator serving no partition yet. newMemberID
// makes a member id for a client id.
func NewMachine(cfg Config, newMemberID func(clientID string) string) *Machine {
	return &Machine{
		cfg: cfg, newMemberID: newMemberID,
		partitions: map[int32]PartitionState{},
		groups:     map[string]*group{},
		appends:    map[Token]func(int64, int16){},
	}
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

// appendRecords emits an Append, a transactional batch of producer unless
// it is nil; done runs with its outcome (0 or a Kafka error code for the
// request that caused it).
func (m *Machine) appendRecords(partition int32, producer *TxnProducer, recs []Record, done func(now int64, code int16)) {
	m.nextToken++
	m.appends[m.nextToken] = done
	m.out = append(m.out, Append{Token: m.nextToken, Partition: partition, Records: recs, Producer: producer})
}

// Appended reports an Append's outcome: code 0 once the records are in the
// log, else the Kafka error code to answer with.
func (m *Machine) Appended(now int64, token Token, code int16) {
	done, ok := m.appends[token]
	if !ok {
		panic(fmt.Sprintf("group: Appended for unknown token %d", token))
	}
	delete(m.appends, token)
	done(now, code)
}

// storeErrorCode is what a request is answered when the group record it
// needs failed to append: a record over max.message.bytes is a server
// error, as in Kafka.
func storeErrorCode(code int16) int16 {
	if code == kerr.MessageTooLarge.Code {
		return kerr.UnknownServerError.Code
	}
	return code
}

// commitErrorCode is storeErrorCode for offset commits.
func commitErrorCode(code int16) int16 {
	if code == kerr.MessageTooLarge.Code {
		return kerr.InvalidCommitOffsetSize.Code
	}
	return code
}

// SetPartitionCount sets how many partitions __consumer_offsets has (0
// while it does not exist): groups map to partitions by it.
func (m *Machine) SetPartitionCount(n int32) { m.partitionCount = n }

// SetPartition changes what the coordinator does with a partition. Loading
// starts a replay (Load calls follow, then Active); None drops the
// partition's groups, answering their waiting requests NOT_COORDINATOR.
func (m *Machine) SetPartition(now int64, p int32, s PartitionState) {
	prev := m.partitions[p]
	switch s {
	case PartitionNone:
		delete(m.partitions, p)
		m.dropGroups(p)
	case PartitionLoading:
		m.dropGroups(p)
		m.partitions[p] = s
	case PartitionActive:
		m.partitions[p] = s
		if prev == PartitionLoading {
			m.finishLoad(now, p)
		}
	}
}

// Partitions returns the partitions in state s, sorted.
func (m *Machine) Partitions(s PartitionState) []int32 {
	var ps []int32
	for p, ps2 := range m.partitions {
		if ps2 == s {
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	return ps
}

func (m *Machine) dropGroups(p int32) {
	for _, id := range slices.Sorted(maps.Keys(m.groups)) {
		g := m.groups[id]
		if g.partition != p {
			continue
		}
		for _, mem := range g.members {
			m.failCalls(mem, kerr.NotCoordinator.Code)
		}
		delete(m.groups, id)
	}
}

// SetLeaseLost says whether this broker's controller session may have
// lapsed: until it is renewed every group request is answered
// NOT_COORDINATOR, so a deposed coordinator that has not yet heard of its
// successor serves no stale offsets.
func (m *Machine) SetLeaseLost(lost bool) { m.leaseLost = lost }

// coordinatorError is NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS when
// this coordinator cannot serve group id now, else 0.
func (m *Machine) coordinatorError(id string) int16 {
	if m.partitionCount <= 0 {
		return kerr.CoordinatorNotAvailable.Code
	}
	if m.leaseLost {
		return kerr.NotCoordinator.Code
	}
	switch m.partitions[PartitionFor(id, m.partitionCount)] {
	case PartitionActive:
		return 0
	case PartitionLoading:
		return kerr.CoordinatorLoadInProgress.Code
	}
	return kerr.NotCoordinator.Code
}

// memberGroupError is coordinatorError for the membership APIs, which
// also reject an empty group id (Kafka allows it for the offset and admin
// APIs).
func (m *Machine) memberGroupError(id string) int16 {
	if id == "" {
		return kerr.InvalidGroupID.Code
	}
	return m.coordinatorError(id)
}

func (m *Machine) getOrCreateGroup(id string, now int64) *group {
	g := m.groups[id]
	if g == nil {
		g = newGroup(id, PartitionFor(id, m.partitionCount), now)
		m.groups[id] = g
	}
	return g
}

// Request handles one decoded request; its Reply comes out now or later.
func (m *Machine) Request(now int64, c Caller, req kmsg.Request) {
	switch req := req.(type) {
	case *kmsg.JoinGroupRequest:
		m.join(now, c, req)
	case *kmsg.SyncGroupRequest:
		m.sync(now, c.Call, req)
	case *kmsg.HeartbeatRequest:
		m.heartbeat(now, c.Call, req)
	case *kmsg.LeaveGroupRequest:
		m.leave(now, c.Call, req)
	case *kmsg.OffsetCommitRequest:
		m.commit(now, c.Call, req)
	case *kmsg.TxnOffsetCommitRequest:
		m.txnCommit(now, c.Call, req)
	case *kmsg.OffsetFetchRequest:
		m.fetchOffsets(c.Call, req)
	case *kmsg.OffsetDeleteRequest:
		m.deleteOffsets(now, c.Call, req)
	case *kmsg.DescribeGroupsRequest:
		m.describe(c.Call, req)
	case *kmsg.ListGroupsRequest:
		m.list(c.Call, req)
	case *kmsg.DeleteGroupsRequest:
		m.deleteGroups(now, c.Call, req)
	default:
		panic(fmt.Sprintf("group: no handler for %T", req))
	}
}

// Tick runs the timers: member session expiry, rebalance and sync
// deadlines, the initial rebalance delay and offset retention.
func (m *Machine) Tick(now int64) {
	for _, id := range slices.Sorted(maps.Keys(m.groups)) {
		if g := m.groups[id]; g != nil && m.partitions[g.partition] == PartitionActive {
			m.tickGroup(now, g)
		}
	}
	if now >= m.nextCheck {
		m.nextCheck = now + m.cfg.OffsetsRetentionCheckMs
		m.expireOffsets(now)
	}
}

func (m *Machine) tickGroup(now int64, g *group) {
	for _, id := range slices.Sorted(maps.Keys(g.pending)) {
		if g.pending[id] <= now {
			delete(g.pending, id)
		}
	}
	for _, mem := range slices.Clone(g.members) {
		if mem.deadline > now {
			continue
		}
		// A member waiting for a rebalance to finish cannot heartbeat; only
		// new members time out while they wait.
		if !mem.isNew && (mem.joinCall != nil || mem.syncCall != nil) {
			continue
		}
		m.removeMember(now, g, mem)
	}
	switch g.state {
	case PreparingRebalance:
		m.advanceJoin(now, g)
	case CompletingRebalance:
		if now >= g.syncDeadline && len(g.pendingSync) > 0 {
			for _, id := range slices.Sorted(maps.Keys(g.pendingSync)) {
				if mem := g.member(id); mem != nil {
					m.failCalls(mem, kerr.UnknownMemberID.Code)
					g.remove(mem)
				}
			}
			m.prepareRebalance(now, g)
		}
	}
}

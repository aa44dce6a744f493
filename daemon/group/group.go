package group

import (
	"bytes"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is a classic group's state (see doc.go for the transitions).
type State int8

const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

// String is Kafka's name for the state, as DescribeGroups and ListGroups
// report it.
func (s State) String() string {
	return [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}[s]
}

// consumerProtocolType is the protocol type of Kafka consumers, whose
// subscriptions the coordinator can read.
const consumerProtocolType = "consumer"

type protocol struct {
	name     string
	metadata []byte
}

// protocolsOf copies a JoinGroup's protocols: the request's bytes alias its
// frame, which is reused once the request is answered.
func protocolsOf(ps []kmsg.JoinGroupRequestProtocol) []protocol {
	out := make([]protocol, len(ps))
	for i, p := range ps {
		out[i] = protocol{p.Name, bytes.Clone(p.Metadata)}
	}
	return out
}

// member is one member of a group. A member awaiting a JoinGroup or
// SyncGroup answer has joinCall or syncCall set.
type member struct {
	id                 string
	instanceID         *string // static membership (group.instance.id)
	clientID           string
	clientHost         string
	rebalanceTimeoutMs int32
	sessionTimeoutMs   int32
	protocolType       string
	protocols          []protocol
	assignment         []byte

	joinCall *CallID
	syncCall *CallID
	isNew    bool  // joined and not yet through a completed join
	deadline int64 // ms: expires unless it heartbeats (or awaits join/sync) by then
}

func (mem *member) metadata(protocolName string) []byte {
	for _, p := range mem.protocols {
		if p.name == protocolName {
			return p.metadata
		}
	}
	return nil
}

func (mem *member) matches(ps []protocol) bool {
	return slices.EqualFunc(mem.protocols, ps, func(a, b protocol) bool {
		return a.name == b.name && bytes.Equal(a.metadata, b.metadata)
	})
}

// offset is one committed offset.
type offset struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitMs    int64
	expireMs    int64 // -1: by the retention rules
}

type topicPartition struct {
	topic     string
	partition int32
}

// group is one consumer group. members keeps join order: the first member
// to join leads, and the order keeps scripts deterministic.
type group struct {
	id           string
	partition    int32 // of __consumer_offsets
	state        State
	stateMs      int64 // when state was entered
	generation   int32
	protocolType string // "" until the first member joins
	protocolName string // selected protocol; "" when Empty
	leader       string
	members      []*member
	static       map[string]string // instance id -> member id
	pending      map[string]int64  // member ids handed out with MEMBER_ID_REQUIRED -> expiry
	offsets      map[topicPartition]offset
	txnOffsets   map[int64]map[topicPartition]offset // producer id -> offsets pending in its transaction (txnoffsets.go)
	// committing counts offset commits being appended: a group without
	// offsets yet is not Empty-and-unused while one is in flight.
	committing int

	// PreparingRebalance: when the join completes at the latest, and the
	// initial delay state of a group that was Empty.
	joinDeadline   int64
	initialDelay   bool
	delayRemaining int64
	newMemberAdded bool
	// CompletingRebalance: members that have not sent SyncGroup, and when
	// they are removed.
	pendingSync  map[string]bool
	syncDeadline int64
}

func newGroup(id string, partition int32, now int64) *group {
	return &group{
		id: id, partition: partition, state: Empty, stateMs: now,
		static: map[string]string{}, pending: map[string]int64{},
		offsets: map[topicPartition]offset{}, pendingSync: map[string]bool{},
	}
}

func (g *group) transition(s State, now int64) {
	g.state, g.stateMs = s, now
}

func (g *group) member(id string) *member {
	for _, mem := range g.members {
		if mem.id == id {
			return mem
		}
	}
	return nil
}

func (g *group) add(mem *member) {
	if len(g.members) == 0 {
		g.protocolType = mem.protocolType
	}
	if g.leader == "" {
		g.leader = mem.id
	}
	g.members = append(g.members, mem)
	if mem.instanceID != nil {
		g.static[*mem.instanceID] = mem.id
	}
	delete(g.pending, mem.id)
}

// remove drops mem; the caller answers its waiting calls.
func (g *group) remove(mem *member) {
	g.members = slices.DeleteFunc(g.members, func(m *member) bool { return m == mem })
	if mem.instanceID != nil && g.static[*mem.instanceID] == mem.id {
		delete(g.static, *mem.instanceID)
	}
	delete(g.pendingSync, mem.id)
	if g.leader == mem.id {
		g.leader = ""
		if len(g.members) > 0 {
			g.leader = g.members[0].id
		}
	}
}

// fenced reports whether instanceID belongs to a static member other than
// memberID (FENCED_INSTANCE_ID).
func (g *group) fenced(memberID string, instanceID *string) bool {
	if instanceID == nil {
		return false
	}
	id, ok := g.static[*instanceID]
	return ok && id != memberID
}

// validateMember checks a request of a current member: its instance id,
// membership and (generation >= 0) generation.
func (g *group) validateMember(memberID string, instanceID *string, generation int32, checkGeneration bool) int16 {
	switch {
	case g.fenced(memberID, instanceID):
		return kerr.FencedInstanceID.Code
	case g.member(memberID) == nil:
		return kerr.UnknownMemberID.Code
	case checkGeneration && generation != g.generation:
		return kerr.IllegalGeneration.Code
	}
	return 0
}

// supports reports whether a member with these protocols may join: the
// group's protocol type and at least one protocol every member supports.
func (g *group) supports(protocolType string, ps []protocol) bool {
	if len(g.members) == 0 {
		return protocolType != "" && len(ps) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range ps {
		if g.allSupport(p.name) {
			return true
		}
	}
	return false
}

func (g *group) allSupport(name string) bool {
	for _, mem := range g.members {
		if !slices.ContainsFunc(mem.protocols, func(p protocol) bool { return p.name == name }) {
			return false
		}
	}
	return true
}

// selectProtocol picks the protocol every member supports that most members
// list first among those; ties go to the leader's preference.
func (g *group) selectProtocol() string {
	votes := map[string]int{}
	for _, mem := range g.members {
		for _, p := range mem.protocols {
			if g.allSupport(p.name) {
				votes[p.name]++
				break
			}
		}
	}
	best, bestVotes := "", 0
	for _, p := range g.leaderProtocols() {
		if v := votes[p.name]; v > bestVotes {
			best, bestVotes = p.name, v
		}
	}
	return best
}

func (g *group) leaderProtocols() []protocol {
	if mem := g.member(g.leader); mem != nil {
		return mem.protocols
	}
	if len(g.members) > 0 {
		return g.members[0].protocols
	}
	return nil
}

func (g *group) rebalanceTimeoutMs() int64 {
	var t int32
	for _, mem := range g.members {
		t = max(t, mem.rebalanceTimeoutMs)
	}
	return int64(t)
}

// allJoined reports whether every member awaits the join and no member id
// handed out with MEMBER_ID_REQUIRED is still outstanding.
func (g *group) allJoined() bool {
	for _, mem := range g.members {
		if mem.joinCall == nil {
			return false
		}
	}
	return len(g.pending) == 0
}

// subscribedTopics is the union of the topics a consumer group's members
// subscribe to; ok is false when it is not a consumer group or a
// subscription cannot be read.
func (g *group) subscribedTopics() (topics map[string]bool, ok bool) {
	if g.protocolType != consumerProtocolType || g.protocolName == "" {
		return nil, false
	}
	topics = map[string]bool{}
	for _, mem := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(mem.metadata(g.protocolName)); err != nil {
			return nil, false
		}
		for _, t := range meta.Topics {
			topics[t] = true
		}
	}
	return topics, true
}

package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func joinError(memberID string, code int16) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.ErrorCode, resp.MemberID = code, memberID
	return resp
}

// joinResult is the successful JoinGroup answer for mem at the current
// generation: the leader gets every member's metadata.
func (g *group) joinResult(mem *member, leader string) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Generation, resp.LeaderID, resp.MemberID = g.generation, leader, mem.id
	pt, pn := g.protocolType, g.protocolName
	resp.ProtocolType, resp.Protocol = &pt, &pn
	if mem.id == leader {
		for _, other := range g.members {
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID, rm.InstanceID, rm.ProtocolMetadata = other.id, other.instanceID, other.metadata(g.protocolName)
			resp.Members = append(resp.Members, rm)
		}
	}
	return resp
}

func (m *Machine) join(now int64, c Caller, req *kmsg.JoinGroupRequest) {
	fail := func(code int16) { m.reply(c.Call, joinError(req.MemberID, code)) }
	if code := m.memberGroupError(req.Group); code != 0 {
		fail(code)
		return
	}
	if req.SessionTimeoutMillis < m.cfg.SessionTimeoutMsMin || req.SessionTimeoutMillis > m.cfg.SessionTimeoutMsMax {
		fail(kerr.InvalidSessionTimeout.Code)
		return
	}
	if req.Version == 0 {
		req.RebalanceTimeoutMillis = req.SessionTimeoutMillis // v0 has no rebalance timeout
	}
	protocols := protocolsOf(req.Protocols)
	g := m.groups[req.Group]
	switch {
	case g == nil && req.MemberID != "":
		fail(kerr.UnknownMemberID.Code)
	case g != nil && g.state == Dead:
		fail(kerr.CoordinatorNotAvailable.Code)
	case g == nil && !(req.ProtocolType != "" && len(protocols) > 0),
		g != nil && !g.supports(req.ProtocolType, protocols):
		fail(kerr.InconsistentGroupProtocol.Code)
	case req.MemberID == "":
		m.joinNewMember(now, c, m.getOrCreateGroup(req.Group, now), req, protocols)
	default:
		m.joinKnownMember(now, c, g, req, protocols)
	}
}

func (m *Machine) joinNewMember(now int64, c Caller, g *group, req *kmsg.JoinGroupRequest, protocols []protocol) {
	if req.InstanceID != nil {
		if oldID, ok := g.static[*req.InstanceID]; ok {
			m.replaceStaticMember(now, c, g, g.member(oldID), req, protocols)
			return
		}
	}
	if len(g.members)+len(g.pending) >= m.cfg.GroupSizeMax {
		m.reply(c.Call, joinError("", kerr.GroupMaxSizeReached.Code))
		return
	}
	id := m.newMemberID(c.ClientID)
	if req.InstanceID == nil && req.Version >= 4 {
		// KIP-394: the client learns its id first and joins with it, so
		// that a retried join cannot leave a defunct member behind.
		g.pending[id] = now + int64(req.SessionTimeoutMillis)
		m.reply(c.Call, joinError(id, kerr.MemberIDRequired.Code))
		return
	}
	m.addMember(now, c, g, id, req, protocols)
}

func (m *Machine) addMember(now int64, c Caller, g *group, id string, req *kmsg.JoinGroupRequest, protocols []protocol) {
	call := c.Call
	mem := &member{
		id: id, instanceID: req.InstanceID, clientID: c.ClientID, clientHost: c.Host,
		rebalanceTimeoutMs: req.RebalanceTimeoutMillis, sessionTimeoutMs: req.SessionTimeoutMillis,
		protocolType: req.ProtocolType, protocols: protocols,
		joinCall: &call, isNew: true, deadline: now + newMemberJoinTimeoutMs,
	}
	if g.state == PreparingRebalance && g.generation == 0 {
		g.newMemberAdded = true
	}
	g.add(mem)
	m.membershipChanged(now, g)
}

func (m *Machine) joinKnownMember(now int64, c Caller, g *group, req *kmsg.JoinGroupRequest, protocols []protocol) {
	if _, ok := g.pending[req.MemberID]; ok && req.InstanceID == nil {
		m.addMember(now, c, g, req.MemberID, req, protocols)
		return
	}
	if code := g.validateMember(req.MemberID, req.InstanceID, 0, false); code != 0 {
		m.reply(c.Call, joinError(req.MemberID, code))
		return
	}
	mem := g.member(req.MemberID)
	switch g.state {
	case PreparingRebalance:
		m.updateMemberAndRebalance(now, c.Call, g, mem, req, protocols)
	case CompletingRebalance:
		if mem.matches(protocols) {
			// A retry of a join whose answer was lost: answer it again.
			m.reply(c.Call, g.joinResult(mem, g.leader))
			return
		}
		m.updateMemberAndRebalance(now, c.Call, g, mem, req, protocols)
	case Stable:
		// The leader rejoins to make the group reassign (e.g. topics
		// changed); a follower with unchanged metadata just syncs again.
		if g.leader == mem.id || !mem.matches(protocols) {
			m.updateMemberAndRebalance(now, c.Call, g, mem, req, protocols)
			return
		}
		m.reply(c.Call, g.joinResult(mem, g.leader))
	default:
		m.reply(c.Call, joinError(req.MemberID, kerr.UnknownMemberID.Code))
	}
}

// updateMember takes a rejoining member's new settings and call.
func (m *Machine) updateMember(g *group, mem *member, call CallID, req *kmsg.JoinGroupRequest, protocols []protocol) {
	mem.protocols = protocols
	mem.rebalanceTimeoutMs, mem.sessionTimeoutMs = req.RebalanceTimeoutMillis, req.SessionTimeoutMillis
	if mem.joinCall != nil {
		// Superseded by this join (the client gave up on the first one).
		m.reply(*mem.joinCall, joinError(mem.id, kerr.RebalanceInProgress.Code))
	}
	mem.joinCall = &call
}

func (m *Machine) updateMemberAndRebalance(now int64, call CallID, g *group, mem *member, req *kmsg.JoinGroupRequest, protocols []protocol) {
	m.updateMember(g, mem, call, req, protocols)
	m.membershipChanged(now, g)
}

// replaceStaticMember gives a static member that rejoins without its member
// id a new one, fencing the old id (KIP-345). In a Stable group whose
// protocol would not change, the member gets its old assignment without a
// rebalance.
func (m *Machine) replaceStaticMember(now int64, c Caller, g *group, mem *member, req *kmsg.JoinGroupRequest, protocols []protocol) {
	m.failCalls(mem, kerr.FencedInstanceID.Code)
	oldLeader := g.leader
	newID := m.newMemberID(c.ClientID)
	if g.leader == mem.id {
		g.leader = newID
	}
	mem.id, mem.clientID, mem.clientHost = newID, c.ClientID, c.Host
	g.static[*mem.instanceID] = newID
	mem.deadline = now + int64(req.SessionTimeoutMillis)
	m.updateMember(g, mem, c.Call, req, protocols)
	switch g.state {
	case Stable:
		if g.selectProtocol() != g.protocolName {
			m.prepareRebalance(now, g)
			return
		}
		// The old leader id is returned so that the current leader does not
		// reassign a Stable group (which would not be propagated).
		gen := g.generation
		m.storeGroup(g, nil, func(_ int64, code int16) {
			if mem.joinCall == nil || g.generation != gen || g.state != Stable {
				return
			}
			call := *mem.joinCall
			mem.joinCall = nil
			if code != 0 {
				m.reply(call, joinError(mem.id, storeErrorCode(code)))
				return
			}
			m.reply(call, g.joinResult(mem, oldLeader))
		})
	case CompletingRebalance:
		// The leader may be assigning to the old id: start over.
		m.prepareRebalance(now, g)
	case PreparingRebalance:
		m.advanceJoin(now, g)
	}
}

// membershipChanged moves the group on after a member joined, changed or
// left: a rebalance starts, or the one under way may complete.
func (m *Machine) membershipChanged(now int64, g *group) {
	switch g.state {
	case Stable, CompletingRebalance, Empty:
		m.prepareRebalance(now, g)
	case PreparingRebalance:
		m.advanceJoin(now, g)
	}
}

// prepareRebalance starts a rebalance: members awaiting their assignment
// are told to rejoin. An Empty group waits the initial rebalance delay
// (extended while new members keep arriving) so that a starting fleet of
// consumers lands in one generation.
func (m *Machine) prepareRebalance(now int64, g *group) {
	if g.state == CompletingRebalance {
		for _, mem := range g.members {
			mem.assignment = nil
			if mem.syncCall != nil {
				m.reply(*mem.syncCall, syncError(kerr.RebalanceInProgress.Code))
				mem.syncCall = nil
			}
		}
		clear(g.pendingSync)
	}
	delay := int64(m.cfg.InitialRebalanceDelayMs)
	g.initialDelay = g.state == Empty
	if g.initialDelay {
		g.joinDeadline = now + delay
		g.delayRemaining = max(g.rebalanceTimeoutMs()-delay, 0)
		g.newMemberAdded = false
	} else {
		g.joinDeadline = now + g.rebalanceTimeoutMs()
	}
	g.transition(PreparingRebalance, now)
	m.advanceJoin(now, g)
}

// advanceJoin completes a PreparingRebalance group's join once every member
// has joined or the deadline passed (for an initial delay: once the delay
// passed without new members).
func (m *Machine) advanceJoin(now int64, g *group) {
	if g.state != PreparingRebalance {
		return
	}
	if g.initialDelay {
		if now < g.joinDeadline {
			return
		}
		if g.newMemberAdded && g.delayRemaining > 0 {
			d := min(int64(m.cfg.InitialRebalanceDelayMs), g.delayRemaining)
			g.newMemberAdded, g.delayRemaining, g.joinDeadline = false, g.delayRemaining-d, now+d
			return
		}
		m.completeJoin(now, g)
		return
	}
	if g.allJoined() || now >= g.joinDeadline {
		m.completeJoin(now, g)
	}
}

// completeJoin ends PreparingRebalance: dynamic members that did not
// rejoin are removed, the generation advances, and every joined member gets
// its answer (the leader with the members' metadata).
func (m *Machine) completeJoin(now int64, g *group) {
	for _, mem := range append([]*member(nil), g.members...) {
		if mem.joinCall == nil && mem.instanceID == nil {
			m.failCalls(mem, kerr.UnknownMemberID.Code)
			g.remove(mem)
		}
	}
	if len(g.members) > 0 && !g.electJoinedLeader() {
		// Only static members that have not rejoined are left: give them
		// another rebalance timeout.
		g.initialDelay, g.joinDeadline = false, now+g.rebalanceTimeoutMs()
		return
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocolName = ""
		g.transition(Empty, now)
		m.storeGroup(g, nil, func(int64, int16) {})
		return
	}
	g.protocolName = g.selectProtocol()
	g.transition(CompletingRebalance, now)
	g.syncDeadline = now + g.rebalanceTimeoutMs()
	for _, mem := range g.members {
		g.pendingSync[mem.id] = true
		if mem.joinCall != nil {
			m.reply(*mem.joinCall, g.joinResult(mem, g.leader))
			mem.joinCall = nil
		}
		mem.isNew = false
		mem.deadline = now + int64(mem.sessionTimeoutMs)
	}
}

// electJoinedLeader keeps the leader if it rejoined, else makes the first
// rejoined member leader; false when no member rejoined.
func (g *group) electJoinedLeader() bool {
	if l := g.member(g.leader); l != nil && l.joinCall != nil {
		return true
	}
	for _, mem := range g.members {
		if mem.joinCall != nil {
			g.leader = mem.id
			return true
		}
	}
	return false
}

// failCalls answers the requests mem is waiting on with code.
func (m *Machine) failCalls(mem *member, code int16) {
	if mem.joinCall != nil {
		m.reply(*mem.joinCall, joinError(mem.id, code))
		mem.joinCall = nil
	}
	if mem.syncCall != nil {
		m.reply(*mem.syncCall, syncError(code))
		mem.syncCall = nil
	}
}

// removeMember removes mem (it left or expired) and moves the group on:
// a rebalance, or the completion of the one under way.
func (m *Machine) removeMember(now int64, g *group, mem *member) {
	m.failCalls(mem, kerr.UnknownMemberID.Code)
	g.remove(mem)
	m.membershipChanged(now, g)
}

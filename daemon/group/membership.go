package group

import (
	"bytes"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func syncError(code int16) *kmsg.SyncGroupResponse {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.ErrorCode = code
	return resp
}

func (g *group) syncResult(mem *member) *kmsg.SyncGroupResponse {
	resp := kmsg.NewPtrSyncGroupResponse()
	pt, pn := g.protocolType, g.protocolName
	resp.ProtocolType, resp.Protocol = &pt, &pn
	resp.MemberAssignment = mem.assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	return resp
}

func (m *Machine) sync(now int64, call CallID, req *kmsg.SyncGroupRequest) {
	fail := func(code int16) { m.reply(call, syncError(code)) }
	if code := m.memberGroupError(req.Group); code != 0 {
		fail(code)
		return
	}
	g := m.groups[req.Group]
	switch {
	case g == nil:
		fail(kerr.UnknownMemberID.Code)
		return
	case g.state == Dead:
		fail(kerr.CoordinatorNotAvailable.Code)
		return
	}
	if code := g.validateMember(req.MemberID, req.InstanceID, req.Generation, true); code != 0 {
		fail(code)
		return
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocolName) {
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	mem := g.member(req.MemberID)
	mem.deadline = now + int64(mem.sessionTimeoutMs)
	switch g.state {
	case Empty:
		fail(kerr.UnknownMemberID.Code)
	case PreparingRebalance:
		fail(kerr.RebalanceInProgress.Code)
	case Stable:
		delete(g.pendingSync, mem.id)
		m.reply(call, g.syncResult(mem))
	case CompletingRebalance:
		if mem.syncCall != nil {
			m.reply(*mem.syncCall, syncError(kerr.RebalanceInProgress.Code))
		}
		mem.syncCall = &call
		delete(g.pendingSync, mem.id)
		if mem.id == g.leader {
			m.completeSync(g, req.GroupAssignment)
		}
	}
}

// completeSync stores the leader's assignment and then hands every member
// its part; members the leader left out get an empty one. The assignments
// are copied: the request's bytes alias its frame, which is reused once the
// request is answered.
func (m *Machine) completeSync(g *group, assignments []kmsg.SyncGroupRequestGroupAssignment) {
	byMember := map[string][]byte{}
	for _, a := range assignments {
		if g.member(a.MemberID) != nil {
			byMember[a.MemberID] = bytes.Clone(a.MemberAssignment)
		}
	}
	gen := g.generation
	m.storeGroup(g, byMember, func(now int64, code int16) {
		if g.state != CompletingRebalance || g.generation != gen {
			return // a rebalance started meanwhile and answered the calls
		}
		if code != 0 {
			code = storeErrorCode(code)
			for _, mem := range g.members {
				mem.assignment = nil
				if mem.syncCall != nil {
					m.reply(*mem.syncCall, syncError(code))
					mem.syncCall = nil
				}
			}
			m.prepareRebalance(now, g)
			return
		}
		for _, mem := range g.members {
			mem.assignment = byMember[mem.id]
			if mem.syncCall != nil {
				m.reply(*mem.syncCall, g.syncResult(mem))
				mem.syncCall = nil
			}
		}
		g.transition(Stable, now)
	})
}

func (m *Machine) heartbeat(now int64, call CallID, req *kmsg.HeartbeatRequest) {
	resp := kmsg.NewPtrHeartbeatResponse()
	resp.ErrorCode = m.heartbeatError(now, req)
	m.reply(call, resp)
}

func (m *Machine) heartbeatError(now int64, req *kmsg.HeartbeatRequest) int16 {
	if code := m.memberGroupError(req.Group); code != 0 {
		return code
	}
	g := m.groups[req.Group]
	switch {
	case g == nil:
		return kerr.UnknownMemberID.Code
	case g.state == Dead:
		return kerr.CoordinatorNotAvailable.Code
	}
	if code := g.validateMember(req.MemberID, req.InstanceID, req.Generation, true); code != 0 {
		return code
	}
	mem := g.member(req.MemberID)
	switch g.state {
	case Empty:
		return kerr.UnknownMemberID.Code
	case PreparingRebalance:
		mem.deadline = now + int64(mem.sessionTimeoutMs)
		return kerr.RebalanceInProgress.Code
	default: // CompletingRebalance (clients heartbeat before syncing), Stable
		mem.deadline = now + int64(mem.sessionTimeoutMs)
		return 0
	}
}

// leave serves LeaveGroup: v0-2 one member by id, v3+ a batch by member id
// or (static members) instance id.
func (m *Machine) leave(now int64, call CallID, req *kmsg.LeaveGroupRequest) {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	if code := m.memberGroupError(req.Group); code != 0 {
		resp.ErrorCode = code
		m.reply(call, resp)
		return
	}
	g := m.groups[req.Group]
	if g != nil && g.state == Dead {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		m.reply(call, resp)
		return
	}
	for _, lm := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
		rm.ErrorCode = m.leaveMember(now, g, lm)
		resp.Members = append(resp.Members, rm)
	}
	if req.Version < 3 {
		resp.ErrorCode, resp.Members = resp.Members[0].ErrorCode, nil
	}
	m.reply(call, resp)
}

func (m *Machine) leaveMember(now int64, g *group, lm kmsg.LeaveGroupRequestMember) int16 {
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	id := lm.MemberID
	if id == "" && lm.InstanceID != nil {
		var ok bool
		if id, ok = g.static[*lm.InstanceID]; !ok {
			return kerr.UnknownMemberID.Code
		}
	}
	if _, ok := g.pending[id]; ok {
		delete(g.pending, id)
		m.advanceJoin(now, g)
		return 0
	}
	if code := g.validateMember(id, lm.InstanceID, 0, false); code != 0 {
		return code
	}
	m.removeMember(now, g, g.member(id))
	return 0
}

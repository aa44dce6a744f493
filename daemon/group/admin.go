package group

import (
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupOperationsAll is the authorized-operations bit set of a group with
// no authorizer: READ(3), DELETE(6), DESCRIBE(8).
const groupOperationsAll = 1<<3 | 1<<6 | 1<<8

// describe serves DescribeGroups. A group this coordinator does not know
// is described as Dead without error, as Kafka does up to v5.
func (m *Machine) describe(call CallID, req *kmsg.DescribeGroupsRequest) {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group, dg.State = id, Dead.String()
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = groupOperationsAll
		}
		dg.ErrorCode = m.coordinatorError(id)
		if g := m.groups[id]; dg.ErrorCode != 0 {
			dg.State = ""
		} else if g != nil {
			g.describeInto(&dg)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	m.reply(call, resp)
}

// describeInto fills in g's state and members; metadata and assignments
// only when Stable, as in Kafka.
func (g *group) describeInto(dg *kmsg.DescribeGroupsResponseGroup) {
	dg.State, dg.ProtocolType = g.state.String(), g.protocolType
	if g.state == Stable {
		dg.Protocol = g.protocolName
	}
	for _, mem := range g.members {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = mem.id, mem.instanceID, mem.clientID, mem.clientHost
		dm.ProtocolMetadata, dm.MemberAssignment = []byte{}, []byte{}
		if g.state == Stable {
			dm.ProtocolMetadata = mem.metadata(g.protocolName)
			if mem.assignment != nil {
				dm.MemberAssignment = mem.assignment
			}
		}
		dg.Members = append(dg.Members, dm)
	}
}

// list serves ListGroups, filtered by state (v4+, case-insensitive) and
// type (v5+; every group here is "classic"). While a partition loads its
// groups are missing and the answer says COORDINATOR_LOAD_IN_PROGRESS.
func (m *Machine) list(call CallID, req *kmsg.ListGroupsRequest) {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	if len(m.Partitions(PartitionLoading)) > 0 {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
	}
	matches := func(filter []string, v string) bool {
		return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
	}
	for _, id := range slices.Sorted(maps.Keys(m.groups)) {
		g := m.groups[id]
		if m.partitions[g.partition] != PartitionActive || g.state == Dead ||
			!matches(req.StatesFilter, g.state.String()) || !matches(req.TypesFilter, "classic") {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = id, g.protocolType, g.state.String(), "classic"
		resp.Groups = append(resp.Groups, lg)
	}
	m.reply(call, resp)
}

// deleteGroups serves DeleteGroups: an Empty group's metadata and offsets
// are tombstoned; the answer waits for every group's append.
func (m *Machine) deleteGroups(now int64, call CallID, req *kmsg.DeleteGroupsRequest) {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	waiting := 0
	done := func() {
		if waiting == 0 {
			m.reply(call, resp)
		}
	}
	for i, id := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		resp.Groups = append(resp.Groups, dg)
		g := m.groups[id]
		switch code := m.coordinatorError(id); {
		case code != 0:
			resp.Groups[i].ErrorCode = code
			continue
		case g == nil || g.state == Dead:
			resp.Groups[i].ErrorCode = kerr.GroupIDNotFound.Code
			continue
		case g.state != Empty:
			resp.Groups[i].ErrorCode = kerr.NonEmptyGroup.Code
			continue
		}
		recs := []Record{{Key: groupKey(id)}}
		for _, tp := range slices.SortedFunc(maps.Keys(g.offsets), compareTP) {
			recs = append(recs, Record{Key: offsetKey(id, tp)})
		}
		g.transition(Dead, now)
		waiting++
		m.appendRecords(g.partition, nil, recs, func(now int64, code int16) {
			waiting--
			resp.Groups[i].ErrorCode = code
			if code == 0 {
				delete(m.groups, id)
			} else {
				g.transition(Empty, now)
			}
			done()
		})
	}
	done()
}

package group

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func formatResponse(resp kmsg.Response) string {
	switch r := resp.(type) {
	case *kmsg.JoinGroupResponse:
		s := fmt.Sprintf("join %s member=%s", codeName(r.ErrorCode), r.MemberID)
		if r.ErrorCode == 0 {
			s += fmt.Sprintf(" gen=%d protocol=%s leader=%s", r.Generation, deref(r.Protocol), r.LeaderID)
			for _, m := range r.Members {
				s += fmt.Sprintf(" [%s %s]", m.MemberID, m.ProtocolMetadata)
			}
		}
		return s
	case *kmsg.SyncGroupResponse:
		if r.ErrorCode != 0 {
			return "sync " + codeName(r.ErrorCode)
		}
		return fmt.Sprintf("sync OK protocol=%s assignment=%q", deref(r.Protocol), r.MemberAssignment)
	case *kmsg.HeartbeatResponse:
		return "heartbeat " + codeName(r.ErrorCode)
	case *kmsg.LeaveGroupResponse:
		s := "leave " + codeName(r.ErrorCode)
		for _, m := range r.Members {
			s += fmt.Sprintf(" [%s%s %s]", m.MemberID, deref(m.InstanceID), codeName(m.ErrorCode))
		}
		return s
	case *kmsg.OffsetCommitResponse:
		s := "commit"
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				s += fmt.Sprintf(" %s:%d=%s", t.Topic, p.Partition, codeName(p.ErrorCode))
			}
		}
		return s
	case *kmsg.OffsetFetchResponse:
		return formatFetch(r)
	case *kmsg.OffsetDeleteResponse:
		s := "offset-delete " + codeName(r.ErrorCode)
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				s += fmt.Sprintf(" %s:%d=%s", t.Topic, p.Partition, codeName(p.ErrorCode))
			}
		}
		return s
	case *kmsg.DescribeGroupsResponse:
		var b strings.Builder
		b.WriteString("describe")
		for _, g := range r.Groups {
			fmt.Fprintf(&b, "\n  %s %s %s type=%q protocol=%q", g.Group, codeName(g.ErrorCode), g.State, g.ProtocolType, g.Protocol)
			for _, m := range g.Members {
				fmt.Fprintf(&b, "\n    %s instance=%s client=%s meta=%q assignment=%q", m.MemberID, deref(m.InstanceID), m.ClientID, m.ProtocolMetadata, m.MemberAssignment)
			}
		}
		return b.String()
	case *kmsg.ListGroupsResponse:
		s := "list " + codeName(r.ErrorCode)
		for _, g := range r.Groups {
			s += fmt.Sprintf(" %s(%s,%s)", g.Group, g.ProtocolType, g.GroupState)
		}
		return s
	case *kmsg.DeleteGroupsResponse:
		s := "delete"
		for _, g := range r.Groups {
			s += fmt.Sprintf(" %s=%s", g.Group, codeName(g.ErrorCode))
		}
		return s
	}
	return fmt.Sprintf("%T", resp)
}

func formatFetch(r *kmsg.OffsetFetchResponse) string {
	part := func(topic string, p int32, off int64, epoch int32, md *string, code int16) string {
		return fmt.Sprintf(" %s:%d=%d/e%d/%q/%s", topic, p, off, epoch, deref(md), codeName(code))
	}
	if len(r.Groups) > 0 {
		var b strings.Builder
		b.WriteString("fetch")
		for _, g := range r.Groups {
			fmt.Fprintf(&b, "\n  %s %s", g.Group, codeName(g.ErrorCode))
			for _, t := range g.Topics {
				for _, p := range t.Partitions {
					b.WriteString(part(t.Topic, p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode))
				}
			}
		}
		return b.String()
	}
	s := "fetch " + codeName(r.ErrorCode)
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			s += part(t.Topic, p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode)
		}
	}
	return s
}

// formatRecord decodes a __consumer_offsets record with kmsg, as a tool
// reading the topic would.
func formatRecord(r Record) string {
	switch binary.BigEndian.Uint16(r.Key) {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(r.Key); err != nil {
			return "BAD-KEY"
		}
		if r.Value == nil {
			return fmt.Sprintf("offset(%s,%s:%d)=tombstone", k.Group, k.Topic, k.Partition)
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(r.Value); err != nil {
			return "BAD-VALUE"
		}
		return fmt.Sprintf("offset(%s,%s:%d)=v%d:%d/e%d/%q", k.Group, k.Topic, k.Partition, v.Version, v.Offset, v.LeaderEpoch, shorten(v.Metadata))
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(r.Key); err != nil {
			return "BAD-KEY"
		}
		if r.Value == nil {
			return fmt.Sprintf("group(%s)=tombstone", k.Group)
		}
		var v kmsg.GroupMetadataValue
		if err := v.ReadFrom(r.Value); err != nil {
			return "BAD-VALUE"
		}
		s := fmt.Sprintf("group(%s)=v%d:gen=%d,type=%s,protocol=%s,leader=%s", k.Group, v.Version, v.Generation, v.ProtocolType, deref(v.Protocol), deref(v.Leader))
		for _, m := range v.Members {
			s += fmt.Sprintf(",[%s %s %q]", m.MemberID, deref(m.InstanceID), m.Assignment)
		}
		return s
	}
	return "UNKNOWN"
}

func shorten(s string) string {
	if len(s) > 16 {
		return fmt.Sprintf("%s...(%d bytes)", s[:8], len(s))
	}
	return s
}

func (s *scriptMachine) formatLog(p int32) string {
	var b strings.Builder
	for _, r := range s.log[p] {
		b.WriteString(formatRecord(r) + "\n")
	}
	return b.String()
}

// state prints a group's internals (every group without group=).
func (s *scriptMachine) state(id string) string {
	var b strings.Builder
	for _, gid := range sortedKeys(s.m.groups) {
		g := s.m.groups[gid]
		if id != "" && gid != id {
			continue
		}
		fmt.Fprintf(&b, "%s p%d %s gen=%d type=%q protocol=%q leader=%q\n", gid, g.partition, g.state, g.generation, g.protocolType, g.protocolName, g.leader)
		for _, mem := range g.members {
			fmt.Fprintf(&b, "  member %s instance=%s deadline=%d join=%v sync=%v new=%v assignment=%q\n",
				mem.id, deref(mem.instanceID), mem.deadline, mem.joinCall != nil, mem.syncCall != nil, mem.isNew, mem.assignment)
		}
		for _, p := range sortedKeys(g.pending) {
			fmt.Fprintf(&b, "  pending %s deadline=%d\n", p, g.pending[p])
		}
		for _, tp := range slices.SortedFunc(maps.Keys(g.offsets), compareTP) {
			o := g.offsets[tp]
			fmt.Fprintf(&b, "  offset %s:%d=%d/e%d/%q commit=%d\n", tp.topic, tp.partition, o.offset, o.leaderEpoch, shorten(o.metadata), o.commitMs)
		}
	}
	if b.Len() == 0 {
		return "no groups"
	}
	return b.String()
}

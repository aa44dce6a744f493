package group

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// call sends req and returns the responses the machine answers with,
// completing appends at once.
func (s *scriptMachine) call(t *testing.T, req kmsg.Request) []kmsg.Response {
	t.Helper()
	s.nextCall++
	s.m.Request(s.now, Caller{Call: s.nextCall, ClientID: "c", Host: "/127.0.0.1"}, req)
	var out []kmsg.Response
	for acts := s.m.TakeActions(); len(acts) > 0; acts = s.m.TakeActions() {
		for _, act := range acts {
			switch act := act.(type) {
			case Reply:
				out = append(out, act.Resp)
			case Append:
				s.finishAppend(act, 0)
			}
		}
	}
	return out
}

// TestStoredBytesDoNotAliasRequests: a request's byte fields alias its frame,
// which netio reuses for the next request once this one is answered. What
// the group keeps (protocol metadata, assignments) must survive the frame
// being overwritten.
func TestStoredBytesDoNotAliasRequests(t *testing.T) {
	s := newScriptMachine()
	s.count = 1
	s.m.SetPartitionCount(1)
	s.m.SetPartition(s.now, 0, PartitionActive)

	metadata, assignment := []byte("protocol-metadata"), []byte("member-assignment")
	join := kmsg.NewPtrJoinGroupRequest()
	join.SetVersion(3)
	join.Group, join.ProtocolType = "g", "consumer"
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 10_000, 10_000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", metadata
	join.Protocols = append(join.Protocols, p)
	resps := s.call(t, join)
	if len(resps) != 1 || resps[0].(*kmsg.JoinGroupResponse).ErrorCode != 0 {
		t.Fatalf("join: %+v", resps)
	}
	jr := resps[0].(*kmsg.JoinGroupResponse)

	sync := kmsg.NewPtrSyncGroupRequest()
	sync.SetVersion(3)
	sync.Group, sync.Generation, sync.MemberID = "g", jr.Generation, jr.MemberID
	a := kmsg.NewSyncGroupRequestGroupAssignment()
	a.MemberID, a.MemberAssignment = jr.MemberID, assignment
	sync.GroupAssignment = append(sync.GroupAssignment, a)
	if resps := s.call(t, sync); len(resps) != 1 || resps[0].(*kmsg.SyncGroupResponse).ErrorCode != 0 {
		t.Fatalf("sync: %+v", resps)
	}

	// The frames are reused: overwrite what the requests pointed into.
	want := [2][]byte{bytes.Clone(metadata), bytes.Clone(assignment)}
	for _, b := range [][]byte{metadata, assignment} {
		for i := range b {
			b[i] = 'X'
		}
	}
	describe := kmsg.NewPtrDescribeGroupsRequest()
	describe.SetVersion(5)
	describe.Groups = []string{"g"}
	resps = s.call(t, describe)
	g := resps[0].(*kmsg.DescribeGroupsResponse).Groups[0]
	if len(g.Members) != 1 {
		t.Fatalf("describe: %+v", g)
	}
	m := g.Members[0]
	if !bytes.Equal(m.ProtocolMetadata, want[0]) || !bytes.Equal(m.MemberAssignment, want[1]) {
		t.Fatalf("stored metadata %q and assignment %q changed with the request buffers, want %q and %q",
			m.ProtocolMetadata, m.MemberAssignment, want[0], want[1])
	}
}

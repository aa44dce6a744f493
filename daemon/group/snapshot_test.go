package group

import (
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCommittedOffsets replays commits on two partitions and checks the
// listing: last commit wins, sorted, and a partition still loading is left
// out.
func TestCommittedOffsets(t *testing.T) {
	m := NewMachine(DefaultConfig(), func(id string) string { return id })
	m.SetPartitionCount(2)
	load := func(p int32, group, topic string, partition int32, off int64) {
		t.Helper()
		if err := m.Load(0, p, offsetKey(group, topicPartition{topic, partition}), offsetValue(offset{offset: off, leaderEpoch: -1})); err != nil {
			t.Fatal(err)
		}
	}
	for p := range int32(2) {
		m.SetPartition(0, p, PartitionLoading)
	}
	g0, g1 := groupOnPartition(t, 2, 0), groupOnPartition(t, 2, 1)
	load(0, g0, "b", 1, 7)
	load(0, g0, "b", 0, 3)
	load(0, g0, "a", 0, 5)
	load(0, g0, "a", 0, 9) // replaces 5
	load(1, g1, "a", 0, 1)
	m.SetPartition(0, 0, PartitionActive)
	want := []CommittedOffset{{g0, "a", 0, 9}, {g0, "b", 0, 3}, {g0, "b", 1, 7}}
	if got := m.CommittedOffsets(); !slices.Equal(got, want) {
		t.Fatalf("partition 1 loading: got %v, want %v", got, want)
	}
	m.SetPartition(0, 1, PartitionActive)
	if g1 < g0 {
		want = append([]CommittedOffset{{g1, "a", 0, 1}}, want...)
	} else {
		want = append(want, CommittedOffset{g1, "a", 0, 1})
	}
	if got := m.CommittedOffsets(); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// groupOnPartition is a group id that maps to partition p of n.
func groupOnPartition(t *testing.T, n, p int32) string {
	t.Helper()
	for i := range 1000 {
		if id := fmt.Sprintf("group-%d", i); PartitionFor(id, n) == p {
			return id
		}
	}
	t.Fatalf("no group id maps to partition %d of %d", p, n)
	return ""
}

// TestSubscriptions joins a consumer whose metadata subscribes to two
// topics: its group lists both once the join completes, with no commit,
// and nothing once the member leaves.
func TestSubscriptions(t *testing.T) {
	cfg := DefaultConfig()
	cfg.InitialRebalanceDelayMs = 0
	m := NewMachine(cfg, func(id string) string { return id + "-1" })
	m.SetPartitionCount(1)
	m.SetPartition(0, 0, PartitionActive)
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{"orders", "audit"}
	join := kmsg.NewPtrJoinGroupRequest()
	join.SetVersion(3) // no MEMBER_ID_REQUIRED round trip
	join.Group, join.ProtocolType, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = "g", "consumer", 10_000, 10_000
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: meta.AppendTo(nil)}}
	m.Request(0, Caller{Call: 1, ClientID: "c"}, join)
	m.TakeActions()
	want := []Subscription{{"g", "audit"}, {"g", "orders"}}
	if got := m.Subscriptions(); !slices.Equal(got, want) {
		t.Fatalf("after the join: got %v, want %v", got, want)
	}
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.SetVersion(0)
	leave.Group, leave.MemberID = "g", "c-1"
	m.Request(0, Caller{Call: 2, ClientID: "c"}, leave)
	m.TakeActions()
	if got := m.Subscriptions(); len(got) != 0 {
		t.Fatalf("after the leave: got %v", got)
	}
}

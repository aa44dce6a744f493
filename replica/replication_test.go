package replica

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/segment"
)

// pair is a leader (node 1) and a follower (node 2) on their own logs,
// wired by hand: fetch moves one follower fetch through the leader.
type pair struct {
	t        *testing.T
	leader   *harness
	follower *harness
	props    chan ISRProposal
	now      time.Time
}

func newPair(t *testing.T, epoch ids.Epoch, minISR int) *pair {
	t.Helper()
	pr := &pair{t: t, props: make(chan ISRProposal, 16), now: time.Unix(1000, 0)}
	pr.leader = newHarness(t, func(_ *segment.Config, o *Options) {
		o.MinInsyncReplicas = minISR
		o.ProposeISR = func(p ISRProposal) { pr.props <- p }
		o.LagTimeMax = 10 * time.Second
	})
	pr.follower = newHarness(t, func(_ *segment.Config, o *Options) { o.NodeID, o.LeaderEpoch = 2, -1 })
	pr.lead(epoch, []ids.NodeID{1, 2})
	return pr
}

// lead makes node 1 lead at epoch with isr, node 2 follow it.
func (pr *pair) lead(epoch ids.Epoch, isr []ids.NodeID) {
	pr.t.Helper()
	if err := pr.leader.p.BecomeLeader(Leadership{Epoch: epoch, PartitionEpoch: int32(epoch), Replicas: []ids.NodeID{1, 2}, ISR: isr}, pr.now); err != nil {
		pr.t.Fatal(err)
	}
	if err := pr.follower.p.BecomeFollower(1, epoch, int32(epoch)); err != nil {
		pr.t.Fatal(err)
	}
}

// fetch runs one follower fetch: read on the leader, then append,
// truncate or HW update on the follower. It returns the leader's answer.
func (pr *pair) fetch() FollowerRead {
	pr.t.Helper()
	off, last, _ := pr.follower.p.FetchPosition()
	rd, err := pr.leader.p.ReadForFollower(FollowerFetch{Replica: 2, BrokerEpoch: 7, CurrentLeaderEpoch: ids.Epoch(pr.leader.p.LeaderEpoch()),
		FetchOffset: off, LastFetchedEpoch: last, MaxBytes: 1 << 20, MinOneBatch: true}, pr.now)
	if err != nil {
		pr.t.Fatalf("follower fetch at %d: %v", off, err)
	}
	if rd.Diverging != nil {
		if err := pr.follower.p.TruncateOnDivergence(*rd.Diverging); err != nil {
			pr.t.Fatal(err)
		}
		return rd
	}
	defer rd.Region.Release()
	buf := make([]byte, rd.Region.Len)
	if rd.Region.Len > 0 {
		if _, err := rd.Region.File.ReadAt(buf, rd.Region.Pos); err != nil {
			pr.t.Fatal(err)
		}
	}
	if err := pr.follower.p.AppendAsFollower(buf); err != nil {
		pr.t.Fatal(err)
	}
	pr.follower.p.UpdateFollowerHW(ids.Offset(rd.HighWatermark))
	return rd
}

func TestLeaderFollowerReplication(t *testing.T) {
	pr := newPair(t, 6, 2)
	res := pr.leader.mustAppendAcks(idem(3, 0, 0, 2), -1)
	if hw := pr.leader.p.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d before the follower fetched", hw)
	}
	waited := make(chan error, 1)
	go func() { waited <- pr.leader.p.WaitReplicated(context.Background(), ids.Offset(res.LastOffset+1)) }()
	pr.fetch() // copies the batch
	if leo := pr.follower.p.Log().LogEndOffset(); leo != 2 {
		t.Fatalf("follower LEO %d, want 2", leo)
	}
	pr.fetch() // reports LEO 2: HW advances, then reaches the follower
	if hw := pr.leader.p.HighWatermark(); hw != 2 {
		t.Fatalf("leader HW %d, want 2", hw)
	}
	if err := <-waited; err != nil {
		t.Fatalf("WaitReplicated: %v", err)
	}
	// The answer carried HW as sampled before the fetch: the next one
	// brings the new HW.
	if hw := pr.follower.p.HighWatermark(); hw != 0 {
		t.Fatalf("follower HW %d, want 0", hw)
	}
	pr.fetch()
	if hw := pr.follower.p.HighWatermark(); hw != 2 {
		t.Fatalf("follower HW %d, want 2", hw)
	}
	if _, err := pr.follower.p.AppendAsLeader(plain(1), 1, -1); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("produce to the follower: %v", err)
	}
	if _, err := pr.follower.p.Read(0, 100, ReadUncommitted, true, -1); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("consumer read on the follower: %v", err)
	}
	if hdr, _ := pr.follower.p.Log().EndOffsetForEpoch(6); hdr != 6 {
		t.Fatalf("follower epoch cache: %d", hdr)
	}
}

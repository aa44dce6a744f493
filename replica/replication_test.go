package replica

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/segment"
)

// pair is a leader (node 1) and a follower (node 2) on their own logs,
// wired by hand: replicate moves one follower fetch through the leader.
type pair struct {
	t        *testing.T
	leader   *harness // node 1
	follower *harness // node 2
	props    chan ISRProposal
	eligible map[ids.NodeID]bool // Options.Eligible of node 1; absent: eligible
	now      time.Time
}

func newPair(t *testing.T, epoch ids.Epoch, minISR int) *pair {
	t.Helper()
	pr := &pair{t: t, props: make(chan ISRProposal, 16), eligible: map[ids.NodeID]bool{}, now: time.Unix(1000, 0)}
	pr.leader = newHarness(t, func(_ *segment.Config, o *Options) {
		o.MinInsyncReplicas = minISR
		o.ProposeISR = func(p ISRProposal) { pr.props <- p }
		o.Eligible = func(id ids.NodeID, _ int64) bool { ok, known := pr.eligible[id]; return ok || !known }
		o.LagTimeMax = 10 * time.Second
	})
	pr.follower = newHarness(t, func(_ *segment.Config, o *Options) {
		o.NodeID, o.LeaderEpoch, o.MinInsyncReplicas = 2, -1, minISR
	})
	pr.lead(pr.leader, pr.follower, epoch, []ids.NodeID{1, 2})
	return pr
}

// lead makes l lead at epoch with isr and f follow it.
func (pr *pair) lead(l, f *harness, epoch ids.Epoch, isr []ids.NodeID) {
	pr.t.Helper()
	if err := l.p.BecomeLeader(Leadership{Epoch: epoch, PartitionEpoch: int32(epoch), Replicas: []ids.NodeID{1, 2}, ISR: isr}, pr.now); err != nil {
		pr.t.Fatal(err)
	}
	if err := f.p.BecomeFollower(ids.NodeID(l.opts.NodeID), epoch, int32(epoch)); err != nil {
		pr.t.Fatal(err)
	}
}

// fetch is one fetch of node 2 from node 1.
func (pr *pair) fetch() FollowerRead {
	pr.t.Helper()
	return pr.replicate(pr.leader, pr.follower)
}

// replicate runs one fetch of f from l as a replica fetcher would: read on
// the leader, then truncation, or append and HW update, on the follower.
// It returns the leader's answer.
func (pr *pair) replicate(l, f *harness) FollowerRead {
	pr.t.Helper()
	off, last, _ := f.p.FetchPosition()
	rd, err := l.p.ReadForFollower(FollowerFetch{Replica: ids.NodeID(f.opts.NodeID), BrokerEpoch: 7,
		CurrentLeaderEpoch: ids.Epoch(l.p.LeaderEpoch()), FetchOffset: off, LastFetchedEpoch: last,
		MaxBytes: 1 << 20, MinOneBatch: true}, pr.now)
	if err != nil {
		pr.t.Fatalf("follower fetch at %d: %v", off, err)
	}
	if rd.Diverging != nil {
		if err := f.p.TruncateOnDivergence(*rd.Diverging); err != nil {
			pr.t.Fatal(err)
		}
		return rd
	}
	if err := f.p.AppendAsFollower(fetched(pr.t, regionBytes(pr.t, rd.Region))); err != nil {
		pr.t.Fatal(err)
	}
	f.p.UpdateFollowerHW(ids.Offset(rd.HighWatermark))
	if err := f.p.UpdateFollowerLogStart(ids.Offset(rd.LogStartOffset)); err != nil {
		pr.t.Fatal(err)
	}
	return rd
}

// fetched validates the batches of a fetch answer, as the follower's
// fetcher does.
func fetched(t *testing.T, records []byte) []segment.Batch {
	t.Helper()
	batches, err := segment.ValidateBatches(records, math.MaxInt32)
	if err != nil {
		t.Fatal(err)
	}
	return batches
}

// regionBytes reads a region and releases it.
func regionBytes(t *testing.T, r segment.Region) []byte {
	t.Helper()
	defer r.Release()
	buf := make([]byte, r.Len)
	if r.Len > 0 {
		if _, err := r.File.ReadAt(buf, r.Pos); err != nil {
			t.Fatal(err)
		}
	}
	return buf
}

// logBytes is a whole log as bytes, from its start.
func logBytes(t *testing.T, p *Partition) []byte {
	t.Helper()
	r, err := p.Log().Read(p.Log().LogStartOffset(), 1<<30, p.Log().LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	return regionBytes(t, r)
}

// proposal takes the next ISR proposal, failing when there is none.
func (pr *pair) proposal() ISRProposal {
	pr.t.Helper()
	select {
	case p := <-pr.props:
		return p
	default:
		pr.t.Fatal("no ISR proposal")
		return ISRProposal{}
	}
}

func (pr *pair) noProposal() {
	pr.t.Helper()
	select {
	case p := <-pr.props:
		pr.t.Fatalf("unexpected ISR proposal %+v", p)
	default:
	}
}

func TestLeaderFollowerReplication(t *testing.T) {
	pr := newPair(t, 6, 2)
	res := pr.leader.mustAppendAcks(idem(3, 0, 0, 2), -1)
	if hw := pr.leader.p.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d before the follower fetched", hw)
	}
	waited := make(chan error, 1)
	go func() { waited <- pr.leader.p.WaitReplicated(context.Background(), ids.Offset(res.LastOffset+1)) }()
	moved := make(chan struct{}, 1)
	defer pr.follower.p.Watch(moved)()
	pr.fetch() // copies the batch
	if off, epoch, start := pr.follower.p.FetchPosition(); off != 2 || epoch != 6 || start != 0 {
		t.Fatalf("follower position %d/%d/%d, want LEO 2, epoch 6, start 0", off, epoch, start)
	}
	pr.fetch() // reports LEO 2: HW advances
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
	select {
	case <-moved:
	default:
		t.Fatal("follower's HW watchers not woken")
	}
	if _, err := pr.follower.p.AppendAsLeader(plain(1), 1, -1); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("produce to the follower: %v", err)
	}
	if _, err := pr.follower.p.Read(0, 100, ReadUncommitted, true, -1); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("consumer read on the follower: %v", err)
	}
	if !slices.Equal(logBytes(t, pr.leader.p), logBytes(t, pr.follower.p)) {
		t.Fatal("leader and follower logs differ")
	}
	// The follower recorded the producer: leading, it deduplicates a retry.
	pr.lead(pr.follower, pr.leader, 7, []ids.NodeID{1, 2})
	if dup := pr.follower.mustAppendAcks(idem(3, 0, 0, 2), 1); !dup.Duplicate || dup.BaseOffset != 0 {
		t.Fatalf("retry on the new leader: %+v", dup)
	}
}

// diverged is a pair whose first leader (node 1, epoch 6) appended a
// suffix alone, then node 2 took over in epoch 7 and took the producer's
// retry; node 1 has just truncated after the new leader's DivergingEpoch.
func diverged(t *testing.T) (pr *pair, old, nw *harness) {
	t.Helper()
	pr = newPair(t, 6, 1)
	old, nw = pr.leader, pr.follower
	old.mustAppendAcks(idem(3, 0, 0, 2), -1)
	pr.fetch()
	pr.fetch()
	// Appended by the old leader alone (acks=1), then snapshotted.
	old.mustAppendAcks(idem(3, 0, 2, 2), 1)
	old.mustAppendAcks(plain(1), 1)
	if err := old.p.SnapshotProducers(); err != nil {
		t.Fatal(err)
	}
	pr.lead(nw, old, 7, []ids.NodeID{2})
	nw.mustAppendAcks(idem(3, 0, 2, 3), 1)
	// The old leader asks with its last epoch 6 at offset 5; the new
	// leader's epoch 6 ends at 2.
	rd := pr.replicate(nw, old)
	if rd.Diverging == nil || *rd.Diverging != (EpochEnd{Epoch: 6, EndOffset: 2}) {
		t.Fatalf("diverging %+v, want epoch 6 ending at 2", rd.Diverging)
	}
	if leo := nw.p.m.followers[1].leo; leo != -1 {
		t.Fatalf("new leader took the diverging fetch's offset as node 1's LEO: %d", leo)
	}
	if leo, hw := old.p.Log().LogEndOffset(), old.p.HighWatermark(); leo != 2 || hw != 2 {
		t.Fatalf("old leader after truncation: LEO %d HW %d, want 2 and 2", leo, hw)
	}
	if got := old.snapshotOffsets(); len(got) != 0 {
		t.Fatalf("snapshots above the truncation kept: %v", got)
	}
	return pr, old, nw
}

// An old leader's unreplicated suffix is truncated exactly; it then copies
// the new leader's log and, leading again, deduplicates what it copied.
func TestDivergingOldLeaderCatchesUp(t *testing.T) {
	pr, old, nw := diverged(t)
	pr.replicate(nw, old)
	pr.replicate(nw, old)
	if !slices.Equal(logBytes(t, nw.p), logBytes(t, old.p)) {
		t.Fatal("logs differ after catching up")
	}
	if hw := nw.p.HighWatermark(); hw != 5 {
		t.Fatalf("new leader HW %d, want 5", hw)
	}
	pr.lead(old, nw, 8, []ids.NodeID{1, 2})
	if dup := old.mustAppendAcks(idem(3, 0, 2, 3), 1); !dup.Duplicate || dup.BaseOffset != 2 {
		t.Fatalf("retry on the old leader: %+v", dup)
	}
}

// The truncation rebuilds the producer state at once: the truncated batch's
// retry is appended again, not answered as a duplicate of records that are
// gone.
func TestTruncationRebuildsProducerState(t *testing.T) {
	pr, old, nw := diverged(t)
	pr.lead(old, nw, 8, []ids.NodeID{1})
	if res := old.mustAppendAcks(idem(3, 0, 2, 2), 1); res.Duplicate || res.BaseOffset != 2 {
		t.Fatalf("retry of the truncated batch: %+v, want appended at 2", res)
	}
}

func TestFollowerFetchChecks(t *testing.T) {
	pr := newPair(t, 6, 1)
	pr.leader.mustAppendAcks(plain(2), 1)
	ask := func(p *Partition, replica ids.NodeID, epoch ids.Epoch, offset ids.Offset) error {
		rd, err := p.ReadForFollower(FollowerFetch{Replica: replica, BrokerEpoch: -1, CurrentLeaderEpoch: epoch,
			FetchOffset: offset, LastFetchedEpoch: ids.NoEpoch, MaxBytes: 1 << 20}, pr.now)
		if err == nil {
			rd.Region.Release()
		}
		return err
	}
	for _, tt := range []struct {
		name    string
		p       *Partition
		replica ids.NodeID
		epoch   ids.Epoch
		offset  ids.Offset
		want    error
	}{
		{"stale epoch: a fenced old leader's view", pr.leader.p, 2, 5, 0, ErrFencedLeaderEpoch},
		{"newer epoch", pr.leader.p, 2, 7, 0, ErrUnknownLeaderEpoch},
		{"not a replica, with an epoch", pr.leader.p, 3, 6, 0, ErrUnknownLeaderEpoch},
		{"not a replica, without", pr.leader.p, 3, ids.NoEpoch, 0, ErrNotLeader},
		{"on a follower", pr.follower.p, 1, 6, 0, ErrNotLeader},
		{"beyond LEO", pr.leader.p, 2, 6, 3, segment.ErrOffsetOutOfRange},
		{"unchecked epoch", pr.leader.p, 2, ids.NoEpoch, 0, nil},
	} {
		if err := ask(tt.p, tt.replica, tt.epoch, tt.offset); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	// An old leader that was deposed cannot take acks=all writes.
	if err := pr.leader.p.BecomeFollower(2, 7, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := pr.leader.p.AppendAsLeader(plain(1), -1, -1); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("produce to the deposed leader: %v", err)
	}
	if err := pr.leader.p.BecomeLeader(Leadership{Epoch: 6, Replicas: []ids.NodeID{1, 2}, ISR: []ids.NodeID{1, 2}}, pr.now); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("leading again in the old epoch: %v", err)
	}
	// A stale epoch above the log's but below the replica's leaves the
	// epoch cache alone.
	if err := pr.leader.p.BecomeFollower(2, 9, 9); err != nil {
		t.Fatal(err)
	}
	if err := pr.leader.p.BecomeLeader(Leadership{Epoch: 8, Replicas: []ids.NodeID{1, 2}, ISR: []ids.NodeID{1, 2}}, pr.now); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("leading in epoch 8 while following in 9: %v", err)
	}
	if latest := pr.leader.p.Log().LatestEpoch(); latest != 6 {
		t.Fatalf("epoch cache's latest epoch %d, want 6", latest)
	}
}

// A follower's LEO reaching HW proposes its return to the ISR unless its
// broker is ineligible; one lagging past the lag time is proposed out on a
// tick; the committed ISR comes back through UpdateISR.
func TestISRProposals(t *testing.T) {
	pr := newPair(t, 6, 1)
	if err := pr.leader.p.BecomeLeader(Leadership{Epoch: 7, PartitionEpoch: 3, Replicas: []ids.NodeID{1, 2}, ISR: []ids.NodeID{1}}, pr.now); err != nil {
		t.Fatal(err)
	}
	if err := pr.follower.p.BecomeFollower(1, 7, 3); err != nil {
		t.Fatal(err)
	}
	pr.leader.mustAppendAcks(plain(1), -1)
	pr.eligible[2] = false
	pr.fetch()
	pr.fetch()
	pr.noProposal()
	pr.eligible[2] = true
	pr.fetch()
	prop := pr.proposal()
	want := ISRProposal{Topic: testTopic, LeaderEpoch: 7, PartitionEpoch: 3, ISR: []ISRMember{{1, -1}, {2, 7}}}
	if prop.Topic != want.Topic || prop.LeaderEpoch != 7 || prop.PartitionEpoch != 3 || !slices.Equal(prop.ISR, want.ISR) {
		t.Fatalf("expansion %+v, want %+v", prop, want)
	}
	pr.fetch()
	pr.noProposal() // one in flight
	pr.leader.p.ISRRejected(prop)
	pr.fetch()
	prop = pr.proposal()
	pr.leader.p.UpdateISR([]ids.NodeID{1, 2}, 4, pr.now)
	pr.leader.mustAppendAcks(plain(1), -1)
	pr.leader.p.Tick(pr.now.Add(10 * time.Second))
	pr.noProposal()
	pr.leader.p.Tick(pr.now.Add(11 * time.Second))
	prop = pr.proposal()
	if prop.PartitionEpoch != 4 || !slices.Equal(prop.ISR, []ISRMember{{1, -1}}) {
		t.Fatalf("shrink %+v", prop)
	}
	// The pending shrink is not assumed: HW waits for node 2.
	if hw, leo := pr.leader.p.HighWatermark(), pr.leader.p.Log().LogEndOffset(); hw == leo {
		t.Fatalf("HW %d reached LEO with a shrink pending", hw)
	}
	pr.leader.p.UpdateISR([]ids.NodeID{1}, 5, pr.now.Add(11*time.Second))
	if hw, leo := pr.leader.p.HighWatermark(), pr.leader.p.Log().LogEndOffset(); hw != leo {
		t.Fatalf("HW %d, LEO %d after the shrink committed", hw, leo)
	}
}

func TestWaitReplicated(t *testing.T) {
	pr := newPair(t, 6, 2)
	res := pr.leader.mustAppendAcks(plain(1), -1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := pr.leader.p.WaitReplicated(ctx, ids.Offset(res.LastOffset+1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("without a follower fetch: %v", err)
	}
	if err := pr.leader.p.WaitReplicatedUntil(context.Background(), time.Now().Add(20*time.Millisecond), ids.Offset(res.LastOffset+1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("without a follower fetch, until a deadline: %v", err)
	}
	if err := pr.leader.p.WaitReplicatedUntil(context.Background(), time.Now().Add(-time.Second), ids.Offset(res.LastOffset)); err != nil {
		t.Fatalf("HW already covering the offset, deadline passed: %v", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- pr.leader.p.WaitReplicated(context.Background(), ids.Offset(res.LastOffset+1)) }()
	if err := pr.leader.p.BecomeFollower(2, 7, 7); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; !errors.Is(err, ErrNotLeader) {
		t.Fatalf("after losing leadership: %v", err)
	}
}

func TestWaitReplicatedISRShrank(t *testing.T) {
	pr := newPair(t, 6, 2)
	res := pr.leader.mustAppendAcks(plain(1), -1)
	pr.fetch()
	pr.fetch() // HW covers the record, the waiter has not looked yet
	pr.leader.p.UpdateISR([]ids.NodeID{1}, 7, pr.now)
	if err := pr.leader.p.WaitReplicated(context.Background(), ids.Offset(res.LastOffset+1)); !errors.Is(err, ErrNotEnoughReplicasAfterAppend) {
		t.Fatalf("HW reached with an ISR below min.insync.replicas: %v", err)
	}
}

func TestAppendAsFollowerBatches(t *testing.T) {
	pr := newPair(t, 6, 1)
	for range 3 {
		pr.leader.mustAppendAcks(plain(2), 1)
	}
	r, err := pr.leader.p.Log().Read(0, 1<<20, 6, true)
	if err != nil {
		t.Fatal(err)
	}
	all := regionBytes(t, r)
	one := len(all) / 3
	// A fetch cut at its byte limit: the partial third batch is dropped.
	if err := pr.follower.p.AppendAsFollower(fetched(t, all[:2*one+one/2])); err != nil {
		t.Fatal(err)
	}
	if leo := pr.follower.p.Log().LogEndOffset(); leo != 4 {
		t.Fatalf("follower LEO %d, want 4", leo)
	}
	// The second batch again, then the third: the first fails, nothing is
	// appended.
	if err := pr.follower.p.AppendAsFollower(fetched(t, all[one:])); !errors.Is(err, segment.ErrOffsetMismatch) {
		t.Fatalf("batch below LEO: %v", err)
	}
	if leo := pr.follower.p.Log().LogEndOffset(); leo != 4 {
		t.Fatalf("follower LEO %d after a refused append, want 4", leo)
	}
	if err := pr.leader.p.AppendAsFollower(fetched(t, all[:one])); !errors.Is(err, ErrNotFollower) {
		t.Fatalf("replicated append on the leader: %v", err)
	}
}

func TestWatchEnd(t *testing.T) {
	pr := newPair(t, 6, 2)
	ch := make(chan struct{}, 1)
	cancel := pr.leader.p.WatchEnd(ch)
	defer cancel()
	pr.leader.mustAppendAcks(plain(1), 1)
	select {
	case <-ch:
	default:
		t.Fatal("LEO watcher not woken by an append")
	}
}

func TestRestartAt(t *testing.T) {
	pr := newPair(t, 6, 1)
	pr.leader.mustAppendAcks(idem(3, 0, 0, 2), 1)
	pr.fetch()
	if err := pr.follower.p.SnapshotProducers(); err != nil {
		t.Fatal(err)
	}
	if err := pr.follower.p.RestartAt(100); err != nil {
		t.Fatal(err)
	}
	off, epoch, start := pr.follower.p.FetchPosition()
	if off != 100 || epoch != ids.NoEpoch || start != 100 || pr.follower.p.HighWatermark() != 100 {
		t.Fatalf("after RestartAt(100): position %d/%d/%d HW %d", off, epoch, start, pr.follower.p.HighWatermark())
	}
	if got := pr.follower.snapshotOffsets(); len(got) != 0 {
		t.Fatalf("snapshots kept: %v", got)
	}
	if len(pr.follower.p.producers.byID) != 0 {
		t.Fatal("producer state kept")
	}
}

// A follower raises its log start to the leader's (retention or
// DeleteRecords on the leader), deleting its segments below it as the
// leader did, but never past its own HW; on a leader the call does nothing.
func TestFollowerLogStartFollowsLeader(t *testing.T) {
	pr := newPair(t, 6, 1)
	for _, h := range []*harness{pr.leader, pr.follower} {
		cfg := h.p.Log().Config()
		cfg.SegmentBytes = 3 * plain(1).Header().Size() // three batches a segment
		if err := h.p.Log().SetConfig(cfg); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		pr.leader.mustAppendAcks(plain(1), 1)
	}
	for i := 0; pr.follower.p.HighWatermark() < 10; i++ {
		if i == 10 {
			t.Fatalf("follower HW %d after %d fetches, want 10", pr.follower.p.HighWatermark(), i)
		}
		pr.fetch()
	}
	if err := pr.leader.p.Log().AdvanceLogStart(7); err != nil {
		t.Fatal(err)
	}
	pr.fetch()
	fl := pr.follower.p.Log()
	if fl.LogStartOffset() != 7 || fl.SegmentCount() != pr.leader.p.Log().SegmentCount() || fl.LogEndOffset() != 10 {
		t.Fatalf("follower log start %d, %d segments, LEO %d; want 7, the leader's %d segments, 10",
			fl.LogStartOffset(), fl.SegmentCount(), fl.LogEndOffset(), pr.leader.p.Log().SegmentCount())
	}
	if _, _, start := pr.follower.p.FetchPosition(); start != 7 {
		t.Fatalf("next fetch sends log start %d, want 7", start)
	}

	pr.leader.mustAppendAcks(plain(2), 1)
	pr.fetch() // the follower has 12 records, HW 10 from before its fetch
	if err := pr.leader.p.Log().AdvanceLogStart(12); err != nil {
		t.Fatal(err)
	}
	if err := pr.follower.p.UpdateFollowerLogStart(12); err != nil {
		t.Fatal(err)
	}
	if got, hw := fl.LogStartOffset(), pr.follower.p.HighWatermark(); got != 10 || hw != 10 {
		t.Fatalf("follower log start %d, HW %d; want both 10 (no further than its HW)", got, hw)
	}

	if err := pr.leader.p.UpdateFollowerLogStart(100); err != nil || pr.leader.p.Log().LogStartOffset() != 12 {
		t.Fatalf("on the leader: %v, log start %d, want no change from 12", err, pr.leader.p.Log().LogStartOffset())
	}
}

// A replica that became leader and appended nothing, then follows a leader
// whose log lacks its epoch, drops that epoch on the no-op truncation and
// fetches on (without the cut it would diverge at every fetch).
func TestEmptyEpochDroppedOnFollow(t *testing.T) {
	pr := newPair(t, 6, 1)
	pr.leader.mustAppendAcks(plain(2), 1)
	pr.fetch()
	pr.fetch()
	// Node 2 leads in epoch 7 without appending; node 1 then leads in 8.
	pr.lead(pr.follower, pr.leader, 7, []ids.NodeID{1, 2})
	pr.lead(pr.leader, pr.follower, 8, []ids.NodeID{1, 2})
	pr.leader.mustAppendAcks(plain(1), 1)
	if rd := pr.fetch(); rd.Diverging == nil {
		t.Fatal("no divergence for the empty epoch 7")
	}
	if rd := pr.fetch(); rd.Diverging != nil {
		t.Fatalf("diverging again: %+v", rd.Diverging)
	}
	if !slices.Equal(logBytes(t, pr.leader.p), logBytes(t, pr.follower.p)) {
		t.Fatal("logs differ")
	}
}

func TestWaitReplicatedClosed(t *testing.T) {
	pr := newPair(t, 6, 2)
	res := pr.leader.mustAppendAcks(plain(1), -1)
	waited := make(chan error, 1)
	go func() { waited <- pr.leader.p.WaitReplicated(context.Background(), ids.Offset(res.LastOffset+1)) }()
	if err := pr.leader.p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	// A role change after Close wakes through a fresh channel.
	if err := pr.leader.p.BecomeFollower(2, 7, 7); err != nil {
		t.Fatal(err)
	}
}

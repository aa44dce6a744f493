package quorum

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// Observers: a node that is not in cluster.voters is a broker only (KRaft's
// observer). It runs no raft node and no controller: it pulls the
// committed metadata log from the voters with fetches over the cluster
// transport (the 'O' kind), stores it in its own raft log (the same
// segment log, HardState and snapshot files as a voter's, so a restart
// resumes from its own copy), applies it to its image in order, and
// forwards every change to the active controller as a voter that is not
// the controller does.

const (
	// fetchWaitMax is how long a voter holds an observer's fetch that
	// finds nothing new, waiting for the next applied image.
	fetchWaitMax = 500 * time.Millisecond
	// observerFetchTimeout bounds one fetch (the voter's wait, a
	// snapshot's transfer), so that a voter that stopped answering is
	// given up on soon.
	observerFetchTimeout = 10 * time.Second
	// observerRetry is the pause after a failed fetch before the next
	// voter is asked.
	observerRetry = 200 * time.Millisecond
)

// fetchFn is an observer's fetch from voter to (Transport.Fetch).
type fetchFn func(ctx context.Context, to int32, index uint64, clusterID string) (lead int32, m *raftpb.Message, err error)

// observer is the pure part of a broker-only node: which voter it fetches
// from next, and what it does with an answer. It runs on one goroutine
// (the runner's observe loop, or a test's).
type observer struct {
	core    *core
	storage raftStorage
	voters  []int32 // sorted
	lead    int32   // the active controller as last told; -1 unknown
	term    uint64  // the highest term a voter answered with
	commit  uint64  // the highest commit index a voter answered with
	next    int     // the voter to ask when no leader is known, round-robin
}

func newObserver(c *core, storage raftStorage, voters []int32) *observer {
	return &observer{core: c, storage: storage, voters: slices.Sorted(slices.Values(voters)), lead: -1}
}

// target is the voter to fetch from (the leader when known: it answers
// with the newest commits and lists its observers) and the index wanted.
func (o *observer) target() (to int32, index uint64) {
	if o.lead >= 0 && slices.Contains(o.voters, o.lead) {
		return o.lead, o.core.applied + 1
	}
	return o.voters[o.next%len(o.voters)], o.core.applied + 1
}

// failed: the fetch from voter to failed; the next goes to another voter.
func (o *observer) failed(to int32) {
	if o.lead == to {
		o.setLead(-1)
	}
	if o.voters[o.next%len(o.voters)] == to {
		o.next++
	}
}

func (o *observer) setLead(lead int32) {
	if lead == o.lead {
		return
	}
	o.lead = lead
	id := uint64(raft.None)
	if lead >= 0 {
		id = RaftID(lead)
	}
	o.core.leaderChanged(id)
}

// handle stores and applies voter from's answer m to a fetch from index:
// a snapshot is saved and installed, committed entries are saved with a
// HardState committing them, then applied in order. An answer not for the
// next index (none is, with one fetch at a time) is ignored. An error is
// the storage's or a corrupt entry's: fatal, as on a voter.
func (o *observer) handle(from, lead int32, index uint64, m *raftpb.Message) error {
	if m.GetReject() {
		return fmt.Errorf("%w: this node's metadata log is of cluster %s, voter %d's of cluster %s",
			ErrInconsistentClusterID, o.core.image.ClusterID, from, m.GetContext())
	}
	if lead < 0 && o.lead == from {
		// The voter lost its leader: ask it again, it still serves
		// what is committed.
		o.next = slices.Index(o.voters, from)
	}
	o.setLead(lead)
	o.term, o.commit = max(o.term, m.GetTerm()), max(o.commit, m.GetCommit())
	if index != o.core.applied+1 {
		return nil
	}
	if snap := m.GetSnapshot(); snap != nil && !raft.IsEmptySnap(snap) {
		meta := snap.GetMetadata()
		if meta.GetIndex() < index {
			return fmt.Errorf("%w: voter %d sent snapshot %d for a fetch from %d", ErrCorruptMetadata, from, meta.GetIndex(), index)
		}
		hs := &raftpb.HardState{Term: new(meta.GetTerm()), Commit: new(meta.GetIndex())}
		if err := o.storage.Save(snap, nil, hs); err != nil {
			return err
		}
		return o.core.applySnapshot(snap)
	}
	ents := m.GetEntries()
	if len(ents) == 0 {
		return nil
	}
	for j, e := range ents {
		if e.GetIndex() != index+uint64(j) || e.GetIndex() > m.GetCommit() {
			return fmt.Errorf("%w: voter %d sent entry %d at position %d of a fetch from %d (commit %d)",
				ErrCorruptMetadata, from, e.GetIndex(), j, index, m.GetCommit())
		}
	}
	last := ents[len(ents)-1]
	hs := &raftpb.HardState{Term: new(max(last.GetTerm(), o.term)), Commit: new(last.GetIndex())}
	if err := o.storage.Save(nil, ents, hs); err != nil {
		return err
	}
	for _, e := range ents {
		if err := o.core.applyEntry(e.GetIndex(), e.GetTerm(), e.GetData()); err != nil {
			return fmt.Errorf("apply entry %d: %w", e.GetIndex(), err)
		}
	}
	return nil
}

func (o *observer) status() QuorumStatus {
	return QuorumStatus{NodeID: o.core.self.ID, Leader: o.lead, Term: o.term, Commit: o.commit, Applied: o.core.applied}
}

// openObserver starts the controller of a broker-only node: it restores
// the image from the storage's snapshot, then the observe loop applies
// the stored committed entries after it and fetches the rest.
func openObserver(opts Options, ro raftOptions, voters []int32, fetch fetchFn) (*Controller, error) {
	r, err := newRaftRunner(opts, ro.withDefaults())
	if err != nil {
		return nil, err
	}
	r.obs = newObserver(r.core, ro.storage, voters)
	if err := r.obs.replay(); err != nil {
		return nil, fmt.Errorf("quorum: replay: %w", err)
	}
	go r.deliverLoop()
	go r.observe(fetch)
	return r.c, nil
}

// replay applies the committed entries the storage holds after the
// snapshot the core was restored from.
func (o *observer) replay() error {
	hs, _, err := o.storage.InitialState()
	if err != nil {
		return err
	}
	for o.core.applied < hs.GetCommit() {
		ents, err := o.storage.Entries(o.core.applied+1, hs.GetCommit()+1, raftMsgBytesMax)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := o.core.applyEntry(e.GetIndex(), e.GetTerm(), e.GetData()); err != nil {
				return fmt.Errorf("apply entry %d: %w", e.GetIndex(), err)
			}
		}
	}
	return nil
}

// observe runs an observer: one fetch at a time, on its own goroutine,
// its answer handled here; tasks (changes to forward, status) in between.
func (r *raftRunner) observe(fetch fetchFn) {
	type result struct {
		to, lead int32
		index    uint64
		m        *raftpb.Message
		err      error
	}
	ctx, cancel := context.WithCancel(context.Background())
	results := make(chan result, 1)
	start := func() {
		to, index := r.obs.target()
		clusterID := r.core.image.ClusterID
		go func() {
			fctx, fcancel := context.WithTimeout(ctx, observerFetchTimeout)
			lead, m, err := fetch(fctx, to, index, clusterID)
			fcancel()
			results <- result{to: to, lead: lead, index: index, m: m, err: err}
		}()
	}
	start()
	var retry <-chan time.Time
	var err error
loop:
	for {
		select {
		case <-r.stop:
			break loop
		case f := <-r.tasks:
			f()
		case <-retry:
			retry = nil
			start()
		case res := <-results:
			if res.err != nil {
				r.core.log.Debug("metadata: observer fetch failed", "voter", res.to, "err", res.err)
				r.obs.failed(res.to)
				r.storeLead()
				retry = time.After(observerRetry)
				continue
			}
			if err = r.obs.handle(res.to, res.lead, res.index, res.m); err != nil {
				r.core.log.Error("metadata observer stopped", "err", err)
				break loop
			}
			r.storeLead()
			start()
		}
	}
	cancel()
	if err == nil {
		err = ErrClosed
	}
	r.core.fail(err)
	r.err = err
	close(r.stopped)
}

// storeLead publishes the observer's leader for forwarding (call).
func (r *raftRunner) storeLead() {
	if r.obs.lead < 0 {
		r.lead.Store(raft.None)
		return
	}
	r.lead.Store(RaftID(r.obs.lead))
}

// serveFetch answers observer from's fetch from index (the transport's
// Fetch) with fetchAnswer: at once when there is something for it, else
// after the next image this voter publishes (a commit applied, a new
// leader) or fetchWaitMax, so an observer follows a commit about as soon
// as a voter applies it without polling hard.
func (c *Controller) serveFetch(ctx context.Context, from int32, index uint64, clusterID string) (int32, *raftpb.Message, error) {
	r := c.raft
	if r == nil || r.obs != nil {
		return -1, nil, fmt.Errorf("observer %d fetched from a node that is not a voter", from)
	}
	timer := time.NewTimer(fetchWaitMax)
	defer timer.Stop()
	for waited := false; ; waited = true {
		c.mu.Lock()
		changed := r.changed
		c.mu.Unlock()
		lead, m, err := fetchAnswer(r.storage, c.Image(), r.lead.Load(), index, clusterID)
		if err != nil {
			return -1, nil, err
		}
		if waited || m.GetReject() || len(m.GetEntries()) > 0 || m.GetSnapshot() != nil {
			r.observers.seen(from, index-1, time.Now())
			return lead, m, nil
		}
		select {
		case <-changed:
		case <-timer.C:
		case <-ctx.Done():
			return -1, nil, ctx.Err()
		case <-r.stopped:
			return -1, nil, r.err
		}
	}
}

// fetchAnswer is a voter's answer to an observer's fetch from index: the
// leader's node id (-1: none known) from raft leader id lead, and what
// the storage holds for it (FetchCommitted). An observer of another
// cluster (clusterID, "" when it has none yet) than the voter's image im
// is refused (Reject, with this cluster's id), so it never stores another
// cluster's entries.
func fetchAnswer(storage raftStorage, im *Image, lead, index uint64, clusterID string) (int32, *raftpb.Message, error) {
	leader := int32(-1)
	if lead != raft.None {
		leader = nodeOfRaftID(lead)
	}
	if clusterID != "" && im.ClusterID != "" && clusterID != im.ClusterID {
		return leader, &raftpb.Message{Type: new(raftpb.MsgApp), Reject: new(true), Context: []byte(im.ClusterID)}, nil
	}
	m, err := storage.FetchCommitted(index)
	return leader, m, err
}

// observerTable is what a voter knows of the observers that fetch from
// it: the index each has (the one before its last fetch) and when it last
// fetched. Observers not heard from for its timeout are left out.
type observerTable struct {
	timeout time.Duration
	mu      sync.Mutex
	seenAt  map[int32]observerSeen
}

type observerSeen struct {
	match uint64
	at    time.Time
}

func newObserverTable(timeout time.Duration) *observerTable {
	if timeout <= 0 {
		timeout = DefaultBrokerSessionTimeout
	}
	return &observerTable{timeout: timeout, seenAt: map[int32]observerSeen{}}
}

func (t *observerTable) seen(id int32, match uint64, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seenAt[id] = observerSeen{match: match, at: now}
}

// list returns the observers heard from within the timeout, by id.
func (t *observerTable) list(now time.Time) []VoterProgress {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []VoterProgress
	for id, s := range t.seenAt {
		if now.Sub(s.at) > t.timeout {
			delete(t.seenAt, id)
			continue
		}
		out = append(out, VoterProgress{ID: id, Match: int64(s.match)})
	}
	slices.SortFunc(out, func(a, b VoterProgress) int { return int(a.ID) - int(b.ID) })
	return out
}

package replica_test

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"time"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
	"github.com/riffle/riffle/segment/vfs"
)

// The world of the replication simulation (sim_test.go): three brokers,
// each a real replica.Partition over a real segment.Log on its own MemFS,
// a controller model, producers, a consumer and a network, all driven by
// one seeded random source on one goroutine.

const (
	simTopic  = "sim"
	simTick   = 100 * time.Millisecond
	simMinISR = 2
	// simController is the controller's address in messages.
	simController ids.NodeID = 0
)

var simReplicas = []ids.NodeID{1, 2, 3}

var simDiscard = slog.New(slog.DiscardHandler)

// simParams are one seed's settings (each seed draws its own).
type simParams struct {
	steps        int
	syncEvery    bool  // segment SyncEveryAppend: a power failure loses nothing appended
	flushRecords int64 // flush.messages
	segmentBytes int64
	fetchBytes   int32 // a follower fetch's MaxBytes
	lagTicks     int   // replica.lag.time.max.ms
	delayMax     int   // broker-to-broker delay in ticks, at least 1
	pushDelayMax int   // controller-to-broker delay in ticks
	dropP        float64
	produceP     float64
	consumeP     float64
	crashP       float64
	powerP       float64 // of a crash, the share that loses unsynced writes
	cutP, healP  float64 // per tick, of a cut (each kind) and of its end
	sessionTicks int     // a killed broker is fenced this long after it died
	downTicks    int     // a crashed broker restarts this long after it was fenced
}

func simSeedParams(rng *rand.Rand, steps int) simParams {
	return simParams{
		steps:        steps,
		syncEvery:    rng.IntN(4) == 0,
		flushRecords: 1 + rng.Int64N(20),
		segmentBytes: 1024 + rng.Int64N(8192),
		fetchBytes:   int32(200 + rng.IntN(4000)),
		lagTicks:     4 + rng.IntN(30),
		delayMax:     1 + rng.IntN(3),
		pushDelayMax: rng.IntN(4),
		dropP:        rng.Float64() * 0.2,
		produceP:     0.2 + rng.Float64()*0.6,
		consumeP:     rng.Float64() * 0.5,
		crashP:       rng.Float64() * 0.15,
		powerP:       rng.Float64(),
		cutP:         rng.Float64() * 0.05,
		healP:        0.02 + rng.Float64()*0.2,
		sessionTicks: 1 + rng.IntN(20),
		downTicks:    rng.IntN(20),
	}
}

// simBatch is one batch of a log: its offsets and its bytes as stored.
type simBatch struct {
	base, last int64
	data       []byte
}

type simBroker struct {
	id          ids.NodeID
	up          bool
	brokerEpoch int64 // this incarnation's registration
	dir         string
	disk        *vfs.MemFS
	p           *replica.Partition
	fencedAt    int64 // when the controller last fenced it; -1 not since it started

	// The partition state this broker applied from the controller; isr
	// is the committed ISR it leads with.
	leader ids.NodeID
	epoch  ids.Epoch
	pe     int32
	isr    []ids.NodeID

	// Its fetcher: the one fetch in flight (0 none), sent at fetchSent.
	fetchID      uint64
	fetchSent    int64
	backoffUntil int64

	// dump caches the log's batches while version is unchanged.
	version, dumpVersion uint64
	dump                 []simBatch

	// hwKey and hw are the HW last seen while it led: (broker epoch,
	// leader epoch) and the offset.
	hwKey [2]int64
	hw    int64
}

// simCtl is the controller's view of the partition and the brokers.
type simCtl struct {
	leader      ids.NodeID
	epoch       ids.Epoch
	pe          int32
	isr         []ids.NodeID // in assignment order
	fenced      map[ids.NodeID]bool
	brokerEpoch map[ids.NodeID]int64
}

// simState is the partition state the controller pushes to a broker.
type simState struct {
	leader ids.NodeID
	epoch  ids.Epoch
	pe     int32
	isr    []ids.NodeID
}

type simFetch struct {
	id          uint64
	brokerEpoch int64
	f           replica.FollowerFetch
}

type simFetchResp struct {
	id          uint64
	brokerEpoch int64 // of the follower's incarnation that asked
	records     []byte
	hw          ids.Offset
	logStart    ids.Offset
	diverging   *replica.EpochEnd
	err         error
}

type simMsg struct {
	at       int64
	seq      uint64
	from, to ids.NodeID
	fetch    *simFetch
	resp     *simFetchResp
	state    *simState
	prop     *replica.ISRProposal
	rejected *replica.ISRProposal // to the leader that proposed it
	// brokerEpoch is the sender's incarnation for a proposal, the
	// receiver's for a rejection.
	brokerEpoch int64
}

// simMetadata is a client's idea of the leader, refreshed from the
// controller on errors (a zombie leader keeps clients that trust it).
type simMetadata struct {
	leader ids.NodeID
	epoch  ids.Epoch
}

// simProducer is an idempotent producer with one batch in flight
// (max.in.flight.requests.per.connection=1) retried until acknowledged.
type simProducer struct {
	pid     int64
	seq     int32
	batch   []byte // the batch as encoded; nil: none pending
	retryAt int64
	// The append of batch that waits for HW: at broker (incarnation
	// brokerEpoch) leading in epoch, offsets base..last.
	sent        bool
	broker      ids.NodeID
	brokerEpoch int64
	epoch       ids.Epoch
	base, last  int64
	sentAt      int64
	liveAcks    int // acknowledged in the liveness phase
	meta        simMetadata
}

type simStats struct {
	acks, duplicates, consumed, kills, powerLosses, cuts, zombies, elections int
	shrinks, expands, rejections, truncations, staleResponses                int
	// appends and reads at a deposed leader that does not know it yet
	zombieAppends, zombieReads int
}

func (st *simStats) add(o simStats) {
	st.acks += o.acks
	st.duplicates += o.duplicates
	st.consumed += o.consumed
	st.kills += o.kills
	st.powerLosses += o.powerLosses
	st.cuts += o.cuts
	st.zombies += o.zombies
	st.elections += o.elections
	st.shrinks += o.shrinks
	st.expands += o.expands
	st.rejections += o.rejections
	st.truncations += o.truncations
	st.staleResponses += o.staleResponses
	st.zombieAppends += o.zombieAppends
	st.zombieReads += o.zombieReads
}

type sim struct {
	rng     *rand.Rand
	p       simParams
	now     int64
	brokers []*simBroker // brokers[i].id == i+1
	ctl     simCtl
	queue   []simMsg
	seq     uint64
	// pushedAt is the latest delivery time queued per broker: pushes
	// arrive in order, as the metadata log does.
	pushedAt map[ids.NodeID]int64
	// cut is cut off from the other brokers (not the controller); zombie
	// from the controller (not the other brokers); 0 none.
	cut, zombie  ids.NodeID
	epochs       int64 // broker epochs handed out
	fetchIDs     uint64
	producers    []*simProducer
	consumerPos  int64
	consumerMeta simMetadata
	consumed     []simBatch         // what the consumer read, in order
	committed    map[int64]simBatch // acknowledged or consumed batches by base offset
	faultsOn     bool
	stats        simStats
	err          error
	trace        []string
	tracing      bool
	liveness     bool
}

// newSim makes a world whose brokers each keep their data directory,
// snapshots included, on their own MemFS.
func newSim(seed uint64, steps int) *sim {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s := &sim{rng: rng, p: simSeedParams(rng, steps), pushedAt: map[ids.NodeID]int64{},
		committed: map[int64]simBatch{}, faultsOn: true, consumerMeta: simMetadata{leader: ids.NoNode},
		ctl: simCtl{leader: ids.NoNode, epoch: 0, fenced: map[ids.NodeID]bool{}, brokerEpoch: map[ids.NodeID]int64{}}}
	for _, id := range simReplicas {
		dir := fmt.Sprintf("/broker%d", id)
		disk := vfs.NewMemFS()
		err := disk.MkdirAll(dir, 0o755)
		for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
			err = errors.Join(err, disk.SyncDir(filepath.Dir(d)))
		}
		if err != nil {
			panic(err)
		}
		s.brokers = append(s.brokers, &simBroker{id: id, dir: dir, disk: disk, fencedAt: -1})
		s.ctl.fenced[id] = true
	}
	s.ctl.isr = slices.Clone(simReplicas)
	for pid := int64(1); pid <= 2; pid++ {
		s.producers = append(s.producers, &simProducer{pid: pid, meta: simMetadata{leader: ids.NoNode}})
	}
	return s
}

func (s *sim) broker(id ids.NodeID) *simBroker { return s.brokers[id-1] }

func (s *sim) clock() time.Time {
	return time.Unix(1_700_000_000, 0).Add(time.Duration(s.now) * simTick)
}

func (s *sim) logf(format string, args ...any) {
	if s.tracing {
		s.trace = append(s.trace, fmt.Sprintf("t%d ", s.now)+fmt.Sprintf(format, args...))
	}
}

// failf records the first invariant failure.
func (s *sim) failf(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("tick %d: "+format, append([]any{s.now}, args...)...)
		s.logf("FAIL %v", s.err)
	}
}

func (s *sim) send(m simMsg, delay int) {
	s.seq++
	m.seq, m.at = s.seq, s.now+int64(delay)
	s.queue = append(s.queue, m)
}

// linked says whether brokers a and b can talk.
func (s *sim) linked(a, b ids.NodeID) bool {
	return a == b || s.cut == 0 || (a != s.cut && b != s.cut)
}

// --- brokers: start, crash ---

func (s *sim) segmentConfig() segment.Config {
	cfg := segment.DefaultConfig()
	cfg.SegmentBytes = s.p.segmentBytes
	cfg.IndexBytesMax = 4096
	cfg.IndexIntervalBytes = 256
	cfg.FlushMessages = s.p.flushRecords
	cfg.SyncEveryAppend = s.p.syncEvery
	cfg.FileDeleteDelayMs = 0
	return cfg
}

// start boots b from its disk: it registers with the controller under a new
// broker epoch and learns the partition's state from it.
func (s *sim) start(b *simBroker) {
	cfg := s.segmentConfig()
	dd, err := segment.OpenDataDir(b.dir, func(string) segment.Config { return cfg },
		segment.Options{FS: b.disk, Now: s.clock, Logger: simDiscard})
	if err != nil {
		s.failf("broker %d: open data dir: %v", b.id, err)
		return
	}
	log := dd.Log(simTopic, 0)
	if log == nil {
		if log, err = dd.CreateLog(simTopic, 0, cfg); err != nil {
			s.failf("broker %d: create log: %v", b.id, err)
			return
		}
	}
	id := b.id
	p, err := replica.Open(log, replica.Options{
		Topic: simTopic, NodeID: int32(id), LeaderEpoch: -1,
		MinInsyncReplicas: simMinISR, Logger: simDiscard,
		ProposeISR: func(prop replica.ISRProposal) { s.proposed(id, prop) },
		Eligible:   s.eligible,
		LagTimeMax: time.Duration(s.p.lagTicks) * simTick,
	})
	if err != nil {
		s.failf("broker %d: open partition: %v", b.id, err)
		return
	}
	s.epochs++
	*b = simBroker{id: id, up: true, brokerEpoch: s.epochs, dir: b.dir, disk: b.disk, p: p, fencedAt: -1,
		leader: ids.NoNode, epoch: ids.NoEpoch, pe: -1, version: b.version + 1}
	s.logf("broker %d starts (broker epoch %d): LEO %d, epoch %d", id, b.brokerEpoch, log.LogEndOffset(), log.LatestEpoch())
	s.checkEpochs(b)
	s.ctl.fenced[id] = false
	s.ctl.brokerEpoch[id] = b.brokerEpoch
	if s.ctl.leader == ids.NoNode {
		s.elect()
	}
	s.pushAll()
}

// crash stops b. A kill keeps what the process wrote (the page cache
// survives: the log is flushed, then the disk taken as after power loss);
// a power failure keeps only what was synced, and the controller learns
// of it at once (see the fault model in sim_test.go).
func (s *sim) crash(b *simBroker, power bool) {
	if !power {
		if err := b.p.Log().Flush(); err != nil {
			s.failf("broker %d: flush before kill: %v", b.id, err)
		}
		s.stats.kills++
	} else {
		s.stats.powerLosses++
	}
	leo := b.p.Log().LogEndOffset()
	b.disk = b.disk.CrashClone()
	b.up, b.p, b.dump = false, nil, nil
	b.version++
	s.logf("broker %d %s at LEO %d", b.id, map[bool]string{false: "killed", true: "loses power"}[power], leo)
	if s.zombie == b.id {
		s.zombie = 0
	}
	if power {
		s.fence(b)
	} else {
		s.expireSession(b)
	}
}

// expireSession fences b after the session timeout if it is still down
// or cut off from the controller then.
func (s *sim) expireSession(b *simBroker) {
	s.send(simMsg{to: simController, from: b.id, brokerEpoch: b.brokerEpoch}, s.p.sessionTicks)
}

// unfence is b's heartbeat reaching the controller again after a cut.
func (s *sim) unfence(b *simBroker) {
	if !s.ctl.fenced[b.id] {
		return
	}
	s.ctl.fenced[b.id] = false
	s.logf("controller unfences broker %d", b.id)
	if s.ctl.leader == ids.NoNode {
		s.elect()
	}
	s.pushAll()
}

// checkEpochs checks a restarted log against its leader-epoch cache: each
// batch lies within its epoch's range, or a follower's LastFetchedEpoch
// hides a divergent tail from the leader.
func (s *sim) checkEpochs(b *simBroker) {
	l := b.p.Log()
	for _, bt := range s.batches(b) {
		h, _ := segment.ParseBatchHeader(bt.data)
		e := h.PartitionLeaderEpoch
		got, end := l.EndOffsetForEpoch(e)
		_, start := l.EndOffsetForEpoch(e - 1)
		if got != e || end <= bt.last || start > bt.base {
			s.failf("broker %d restarted with batch %d..%d of epoch %d, which its epoch cache puts in epoch %d ending at %d (previous ends at %d)",
				b.id, bt.base, bt.last, e, got, end, start)
			return
		}
	}
}

// --- the controller ---

// eligible is KIP-841/903 as the controller sees brokers: registered,
// unfenced, at the broker epoch the fetch carried (-1: unknown).
func (s *sim) eligible(id ids.NodeID, brokerEpoch int64) bool {
	e, ok := s.ctl.brokerEpoch[id]
	return ok && !s.ctl.fenced[id] && (brokerEpoch == -1 || brokerEpoch == e)
}

// fence is the controller fencing a dead broker (session expiry, or a power
// failure): out of the ISR unless it is the last member, and a new leader
// if it led.
func (s *sim) fence(b *simBroker) {
	c := &s.ctl
	if c.fenced[b.id] {
		return
	}
	c.fenced[b.id] = true
	b.fencedAt = s.now
	changed := false
	if i := slices.Index(c.isr, b.id); i >= 0 && len(c.isr) > 1 {
		c.isr = slices.Delete(slices.Clone(c.isr), i, i+1)
		changed = true
	}
	if c.leader == b.id {
		s.elect()
	}
	if changed {
		c.pe++
	}
	s.logf("controller fences broker %d: leader %d epoch %d ISR %v pe %d", b.id, c.leader, c.epoch, c.isr, c.pe)
	s.pushAll()
}

// elect picks the first unfenced ISR member in assignment order (Kafka's
// clean election); none leaves the partition leaderless. A change of
// leader bumps both epochs.
func (s *sim) elect() {
	c := &s.ctl
	leader := ids.NoNode
	for _, id := range simReplicas {
		if slices.Contains(c.isr, id) && !c.fenced[id] {
			leader = id
			break
		}
	}
	if leader == c.leader {
		return
	}
	c.leader = leader
	c.epoch++
	c.pe++
	if leader != ids.NoNode {
		s.stats.elections++
	}
}

func (s *sim) pushAll() {
	for _, b := range s.brokers {
		if b.up {
			s.push(b)
		}
	}
}

// push sends the controller's partition state to b, after any earlier one.
func (s *sim) push(b *simBroker) {
	c := &s.ctl
	st := &simState{leader: c.leader, epoch: c.epoch, pe: c.pe, isr: slices.Clone(c.isr)}
	delay := int64(s.rng.IntN(s.p.pushDelayMax + 1))
	at := max(s.now+delay, s.pushedAt[b.id])
	s.pushedAt[b.id] = at
	s.send(simMsg{from: simController, to: b.id, state: st, brokerEpoch: b.brokerEpoch}, int(at-s.now))
}

// proposed is a leader's Options.ProposeISR: the AlterPartition goes to
// the controller, which answers however long the broker lives.
func (s *sim) proposed(from ids.NodeID, prop replica.ISRProposal) {
	prop.ISR = slices.Clone(prop.ISR)
	s.logf("broker %d proposes ISR %v at leader epoch %d pe %d", from, prop.ISR, prop.LeaderEpoch, prop.PartitionEpoch)
	s.send(simMsg{from: from, to: simController, prop: &prop, brokerEpoch: s.broker(from).brokerEpoch}, 1+s.rng.IntN(s.p.delayMax))
}

// alterPartition applies Kafka's AlterPartition checks that matter here.
// A stale leader or partition epoch leaves the proposal pending at the
// leader until the newer state reaches it (Kafka retries nothing then);
// an ineligible member is refused with ISRRejected.
func (s *sim) alterPartition(from ids.NodeID, brokerEpoch int64, prop replica.ISRProposal) {
	c := &s.ctl
	switch {
	case s.ctl.fenced[from] || c.brokerEpoch[from] != brokerEpoch:
		s.logf("controller: stale broker epoch from %d", from)
		return
	case prop.LeaderEpoch != c.epoch || from != c.leader:
		s.logf("controller: proposal of %d at leader epoch %d fenced (epoch %d, leader %d)", from, prop.LeaderEpoch, c.epoch, c.leader)
		return
	case prop.PartitionEpoch != c.pe:
		s.logf("controller: proposal at pe %d, pe is %d", prop.PartitionEpoch, c.pe)
		return
	}
	var isr []ids.NodeID
	for _, m := range prop.ISR {
		if !slices.Contains(simReplicas, m.ID) || slices.Contains(isr, m.ID) {
			s.failf("leader %d proposes ISR %v: not a set of replicas", from, prop.ISR)
			return
		}
		isr = append(isr, m.ID)
	}
	if !slices.Contains(isr, from) {
		s.failf("leader %d proposes ISR %v without itself", from, prop.ISR)
		return
	}
	for _, m := range prop.ISR {
		if !s.eligible(m.ID, m.BrokerEpoch) {
			s.stats.rejections++
			s.logf("controller: INELIGIBLE_REPLICA %d (broker epoch %d) in %v", m.ID, m.BrokerEpoch, prop.ISR)
			s.send(simMsg{from: simController, to: from, rejected: &prop, brokerEpoch: brokerEpoch}, s.rng.IntN(s.p.pushDelayMax+1))
			return
		}
	}
	slices.Sort(isr)
	switch {
	case len(isr) < len(c.isr):
		s.stats.shrinks++
	case len(isr) > len(c.isr):
		s.stats.expands++
	}
	c.isr = isr
	c.pe++
	s.logf("controller: ISR %v pe %d", c.isr, c.pe)
	s.pushAll()
}

// --- delivery ---

func (s *sim) deliver(m simMsg) {
	if s.zombie != 0 && (m.from == s.zombie && m.prop != nil || m.from == simController && m.to == s.zombie) {
		s.send(m, 1) // the controller link is down: held until it heals
		return
	}
	if m.to == simController {
		if m.prop != nil {
			s.alterPartition(m.from, m.brokerEpoch, *m.prop)
		} else if b := s.broker(m.from); b.brokerEpoch == m.brokerEpoch && (!b.up || s.zombie == b.id) {
			s.fence(b) // its session expired
		}
		return
	}
	b := s.broker(m.to)
	if !b.up {
		return
	}
	switch {
	case m.state != nil:
		if m.brokerEpoch == b.brokerEpoch {
			s.applyState(b, m.state)
		}
	case m.rejected != nil:
		if m.brokerEpoch == b.brokerEpoch {
			b.p.ISRRejected(*m.rejected)
		}
	case m.fetch != nil:
		if s.linked(m.from, m.to) {
			s.serveFetch(b, m)
		}
	case m.resp != nil:
		if s.linked(m.from, m.to) {
			s.fetched(b, m.from, m.resp)
		}
	}
}

// applyState is the replica manager's role transition: leader or follower
// on a new leader epoch, UpdateISR on the same one.
func (s *sim) applyState(b *simBroker, st *simState) {
	if st.pe <= b.pe {
		return
	}
	now := s.clock()
	switch {
	case st.leader == b.id && (b.leader != b.id || b.epoch != st.epoch):
		s.logf("broker %d becomes leader at epoch %d, ISR %v pe %d, LEO %d", b.id, st.epoch, st.isr, st.pe, b.p.Log().LogEndOffset())
		err := b.p.BecomeLeader(replica.Leadership{Epoch: st.epoch, PartitionEpoch: st.pe,
			Replicas: slices.Clone(simReplicas), ISR: slices.Clone(st.isr)}, now)
		if err != nil {
			s.failf("broker %d: become leader at epoch %d: %v", b.id, st.epoch, err)
		}
		b.version++
	case st.leader == b.id:
		b.p.UpdateISR(slices.Clone(st.isr), st.pe, now)
	case b.leader != st.leader || b.epoch != st.epoch:
		s.logf("broker %d follows %d at epoch %d pe %d", b.id, st.leader, st.epoch, st.pe)
		if err := b.p.BecomeFollower(st.leader, st.epoch, st.pe); err != nil {
			s.failf("broker %d: become follower of %d at epoch %d: %v", b.id, st.leader, st.epoch, err)
		}
		b.fetchID = 0
	}
	b.leader, b.epoch, b.pe = st.leader, st.epoch, st.pe
	if b.leader == b.id {
		b.isr = st.isr
		s.checkHW(b)
	}
}

// sendFetch is b's fetcher asking its leader for records, once the fetch
// in flight is answered or timed out.
func (s *sim) sendFetch(b *simBroker) {
	if b.leader == b.id || b.leader == ids.NoNode || s.now < b.backoffUntil ||
		(b.fetchID != 0 && s.now-b.fetchSent < int64(2*s.p.delayMax+2)) {
		return
	}
	off, lastEpoch, _ := b.p.FetchPosition()
	s.fetchIDs++
	b.fetchID, b.fetchSent = s.fetchIDs, s.now
	f := replica.FollowerFetch{Replica: b.id, BrokerEpoch: b.brokerEpoch, CurrentLeaderEpoch: b.epoch,
		FetchOffset: off, LastFetchedEpoch: lastEpoch, MaxBytes: s.p.fetchBytes, MinOneBatch: true}
	if s.faultsOn && s.rng.Float64() < s.p.dropP {
		return
	}
	s.send(simMsg{from: b.id, to: b.leader, fetch: &simFetch{id: b.fetchID, brokerEpoch: b.brokerEpoch, f: f}}, 1+s.rng.IntN(s.p.delayMax))
}

// serveFetch is the leader's side of a follower fetch: the records are
// copied out of the region at once, as sendfile would send them.
func (s *sim) serveFetch(b *simBroker, m simMsg) {
	r, err := b.p.ReadForFollower(m.fetch.f, s.clock())
	s.checkHW(b)
	resp := &simFetchResp{id: m.fetch.id, brokerEpoch: m.fetch.brokerEpoch, err: err}
	if err == nil {
		resp.hw, resp.logStart, resp.diverging = ids.Offset(r.HighWatermark), ids.Offset(r.LogStartOffset), r.Diverging
		if n := r.Region.Len; n > 0 {
			resp.records = make([]byte, n)
			if _, err := r.Region.File.ReadAt(resp.records, r.Region.Pos); err != nil {
				s.failf("broker %d: read region for %d: %v", b.id, m.from, err)
			}
		}
		r.Region.Release()
	}
	if s.faultsOn && s.rng.Float64() < s.p.dropP {
		return
	}
	s.send(simMsg{from: b.id, to: m.from, resp: resp}, 1+s.rng.IntN(s.p.delayMax))
}

// fetched is the follower's fetcher handling the answer to its fetch in
// flight; answers to earlier fetches, incarnations or leaders are stale.
func (s *sim) fetched(b *simBroker, from ids.NodeID, r *simFetchResp) {
	if r.brokerEpoch != b.brokerEpoch || r.id != b.fetchID || from != b.leader {
		s.stats.staleResponses++
		return
	}
	b.fetchID = 0
	if r.err != nil {
		s.logf("broker %d fetch from %d: %v", b.id, from, r.err)
		b.backoffUntil = s.now + 1 + int64(s.rng.IntN(3))
		return
	}
	if d := r.diverging; d != nil {
		hw, leo := b.p.HighWatermark(), b.p.Log().LogEndOffset()
		if err := b.p.TruncateOnDivergence(*d); err != nil {
			s.failf("broker %d: truncate on diverging epoch %+v: %v", b.id, *d, err)
			return
		}
		b.version++
		s.stats.truncations++
		to := b.p.Log().LogEndOffset()
		s.logf("broker %d diverges from %d at %+v: LEO %d -> %d (HW %d)", b.id, from, *d, leo, to, hw)
		if to < min(hw, leo) {
			s.failf("broker %d truncated to %d below its HW %d on diverging epoch %+v", b.id, to, hw, *d)
		}
		return
	}
	if len(r.records) > 0 {
		leo := b.p.Log().LogEndOffset()
		batches, err := segment.ValidateBatches(r.records, math.MaxInt32)
		if err == nil {
			err = b.p.AppendAsFollower(batches)
		}
		if err != nil {
			s.failf("broker %d: append %d bytes from %d: %v", b.id, len(r.records), from, err)
			return
		}
		b.version++
		s.logf("broker %d appends %d..%d from %d", b.id, leo, b.p.Log().LogEndOffset()-1, from)
	}
	b.p.UpdateFollowerHW(r.hw)
	if err := b.p.UpdateFollowerLogStart(r.logStart); err != nil {
		s.failf("broker %d: log start %d from %d: %v", b.id, r.logStart, from, err)
	}
}

// --- clients ---

// produce advances producer pr: a new batch, a retry, or nothing while one
// waits for HW.
func (s *sim) produce(pr *simProducer) {
	if pr.sent || s.now < pr.retryAt {
		return
	}
	if pr.batch == nil {
		if s.liveness && pr.liveAcks > 0 {
			return
		}
		n := 1 + s.rng.IntN(3)
		recs := make([]segment.Record, n)
		for i := range recs {
			recs[i] = segment.Record{Value: fmt.Appendf(nil, "p%d s%d", pr.pid, int(pr.seq)+i), TimestampDelta: int64(i)}
		}
		pr.batch = segment.EncodeBatch(nil, segment.BatchSpec{BaseTimestamp: s.clock().UnixMilli(),
			ProducerID: pr.pid, ProducerEpoch: 0, BaseSequence: pr.seq}, recs)
	}
	md := s.metadata(&pr.meta)
	if md.leader == ids.NoNode || !s.broker(md.leader).up {
		pr.meta.leader, pr.retryAt = ids.NoNode, s.now+1
		return
	}
	b := s.broker(md.leader)
	batch, err := segment.ValidateBatch(bytes.Clone(pr.batch), math.MaxInt32)
	if err != nil {
		s.failf("producer %d built an invalid batch: %v", pr.pid, err)
		return
	}
	res, err := b.p.AppendAsLeader(batch, -1, int32(md.epoch))
	s.checkHW(b)
	switch {
	case err == nil:
		b.version++
		pr.sent, pr.broker, pr.brokerEpoch, pr.epoch, pr.sentAt = true, b.id, b.brokerEpoch, md.epoch, s.now
		pr.base, pr.last = res.BaseOffset, res.LastOffset
		if res.Duplicate {
			s.stats.duplicates++
		}
		if md.epoch != s.ctl.epoch {
			s.stats.zombieAppends++
		}
		s.logf("producer %d seq %d appended at %d..%d on %d epoch %d (duplicate %v)", pr.pid, pr.seq, pr.base, pr.last, b.id, md.epoch, res.Duplicate)
	case errors.Is(err, replica.ErrNotLeader), errors.Is(err, replica.ErrFencedLeaderEpoch),
		errors.Is(err, replica.ErrUnknownLeaderEpoch), errors.Is(err, replica.ErrNotEnoughReplicas):
		pr.meta.leader, pr.retryAt = ids.NoNode, s.now+1+int64(s.rng.IntN(3))
	default:
		s.failf("producer %d seq %d at broker %d epoch %d: %v", pr.pid, pr.seq, b.id, md.epoch, err)
	}
}

// awaitAck completes pr's append once its leader's HW covers it while that
// broker still leads in the epoch it appended in (DelayedProduce); losing
// leadership or the request timeout makes the producer retry.
func (s *sim) awaitAck(pr *simProducer) {
	if !pr.sent {
		return
	}
	b := s.broker(pr.broker)
	switch {
	case !b.up || b.brokerEpoch != pr.brokerEpoch || b.leader != b.id || b.epoch != pr.epoch:
		s.logf("producer %d seq %d: NOT_LEADER_OR_FOLLOWER from %d", pr.pid, pr.seq, pr.broker)
		pr.sent, pr.meta.leader = false, ids.NoNode
		return
	case b.p.HighWatermark() <= pr.last:
		if s.now-pr.sentAt > 30 {
			s.logf("producer %d seq %d: REQUEST_TIMED_OUT", pr.pid, pr.seq)
			pr.sent, pr.meta.leader = false, ids.NoNode
		}
		return
	}
	got, ok := s.batchAt(b, pr.base)
	hdr, _ := segment.ParseBatchHeader(pr.batch)
	if !ok || got.last != pr.last || !bytes.Equal(got.data[17:], pr.batch[17:]) {
		s.failf("producer %d seq %d acknowledged at %d..%d on %d, which holds another batch there (%v)", pr.pid, pr.seq, pr.base, pr.last, b.id, ok)
		return
	}
	s.logf("producer %d seq %d acknowledged at %d..%d by %d (HW %d)", pr.pid, pr.seq, pr.base, pr.last, b.id, b.p.HighWatermark())
	s.commit(got, fmt.Sprintf("acknowledged to producer %d", pr.pid))
	s.stats.acks++
	if s.liveness {
		pr.liveAcks++
	}
	pr.seq += hdr.RecordCount
	pr.batch, pr.sent = nil, false
}

// consume reads from the leader below its HW, as a consumer does.
func (s *sim) consume() {
	md := s.metadata(&s.consumerMeta)
	if md.leader == ids.NoNode || !s.broker(md.leader).up {
		s.consumerMeta.leader = ids.NoNode
		return
	}
	b := s.broker(md.leader)
	r, err := b.p.Read(s.consumerPos, 1024, replica.ReadUncommitted, true, int32(md.epoch))
	if err != nil || r.Region.Len == 0 && s.rng.IntN(4) == 0 {
		s.consumerMeta.leader = ids.NoNode // also now and then, as metadata.max.age.ms does
	}
	if err != nil {
		return
	}
	buf := make([]byte, r.Region.Len)
	if len(buf) > 0 {
		if _, err := r.Region.File.ReadAt(buf, r.Region.Pos); err != nil {
			s.failf("consumer: read region of %d: %v", b.id, err)
		}
	}
	r.Region.Release()
	for _, bt := range simSplit(buf) {
		if bt.base != s.consumerPos || bt.last >= r.HighWatermark {
			s.failf("consumer at %d got batch %d..%d from %d with HW %d", s.consumerPos, bt.base, bt.last, b.id, r.HighWatermark)
			return
		}
		if md.epoch != s.ctl.epoch {
			s.stats.zombieReads++
		}
		s.consumed = append(s.consumed, bt)
		s.consumerPos = bt.last + 1
		s.stats.consumed++
		s.commit(bt, "consumed")
	}
}

// metadata is a client's leader, asking the controller when it has none.
func (s *sim) metadata(md *simMetadata) simMetadata {
	if md.leader == ids.NoNode {
		md.leader, md.epoch = s.ctl.leader, s.ctl.epoch
	}
	return *md
}

// commit records a batch a client saw committed; one offset has one batch.
func (s *sim) commit(bt simBatch, what string) {
	if prev, ok := s.committed[bt.base]; ok && !bytes.Equal(prev.data, bt.data) {
		s.failf("batch %d..%d %s differs from the one committed there before", bt.base, bt.last, what)
		return
	}
	s.committed[bt.base] = bt
}

// --- logs ---

// batches returns b's log as batches, cached while the log is unchanged.
func (s *sim) batches(b *simBroker) []simBatch {
	if b.dump != nil && b.dumpVersion == b.version {
		return b.dump
	}
	l := b.p.Log()
	var out []simBatch
	for off, leo := l.LogStartOffset(), l.LogEndOffset(); off < leo; {
		r, err := l.Read(off, 1<<20, leo, true)
		if err != nil || r.Len == 0 {
			s.failf("broker %d: read log at %d (LEO %d): %v", b.id, off, leo, err)
			return nil
		}
		buf := make([]byte, r.Len)
		_, err = r.File.ReadAt(buf, r.Pos)
		r.Release()
		if err != nil {
			s.failf("broker %d: read log at %d: %v", b.id, off, err)
			return nil
		}
		bs := simSplit(buf)
		if len(bs) == 0 {
			s.failf("broker %d: no whole batch in %d bytes at %d", b.id, len(buf), off)
			return nil
		}
		out = append(out, bs...)
		off = bs[len(bs)-1].last + 1
	}
	b.dump, b.dumpVersion = out, b.version
	if b.dump == nil {
		b.dump = []simBatch{}
	}
	return b.dump
}

// batchAt is b's batch based at offset.
func (s *sim) batchAt(b *simBroker, base int64) (simBatch, bool) {
	bs := s.batches(b)
	i, ok := slices.BinarySearchFunc(bs, base, func(x simBatch, t int64) int { return cmp.Compare(x.base, t) })
	if !ok {
		return simBatch{}, false
	}
	return bs[i], true
}

// simSplit cuts whole batches out of region bytes.
func simSplit(buf []byte) []simBatch {
	var out []simBatch
	for len(buf) >= segment.BatchHeaderSize {
		h, err := segment.ParseBatchHeader(buf)
		if err != nil || int64(len(buf)) < h.Size() {
			break
		}
		n := h.Size()
		out = append(out, simBatch{base: h.BaseOffset, last: h.LastOffset(), data: bytes.Clone(buf[:n])})
		buf = buf[n:]
	}
	return out
}

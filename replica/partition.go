package replica

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riffle/riffle/internal/ids"

	"github.com/riffle/riffle/segment"
)

// Options configure a partition replica.
type Options struct {
	Topic             string
	Partition         int32
	NodeID            int32
	LeaderEpoch       int32        // Open leads in this epoch with ISR [NodeID]; -1: opens as a follower of no one
	MinInsyncReplicas int          // [min.insync.replicas] 1 when 0
	Logger            *slog.Logger // slog.Default() when nil
	// HighWatermark is the HW checkpointed before a restart
	// (segment.DataDir.HighWatermark), where HW starts, bounded by the log
	// start and LEO: a log that lost its unsynced tail ends below it.
	HighWatermark int64

	// Replication (CONTRACT, see roles.go). ProposeISR carries an ISR
	// change to the controller; it must not block (nil: single node, no
	// proposals). Eligible says whether a broker may join an ISR (KIP-841:
	// registered, unfenced, not shutting down, at that broker epoch; nil:
	// any). LagTimeMax is replica.lag.time.max.ms (30 s when 0).
	ProposeISR func(ISRProposal)
	Eligible   func(id ids.NodeID, brokerEpoch int64) bool
	LagTimeMax time.Duration
}

func (o Options) withDefaults() (Options, error) {
	if o.MinInsyncReplicas == 0 {
		o.MinInsyncReplicas = 1
	}
	if o.LagTimeMax == 0 {
		o.LagTimeMax = defaultLagTimeMax
	}
	if o.MinInsyncReplicas < 0 || o.LeaderEpoch < -1 || o.LagTimeMax < 0 {
		return o, fmt.Errorf("%w: min.insync.replicas %d, leader epoch %d",
			ErrInvalidOptions, o.MinInsyncReplicas, o.LeaderEpoch)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// Partition is one partition's replica on this broker: its role (leader or
// follower) and leader epoch, the leader's ISR and HW rules (machine), LEO,
// idempotent-producer state. Safe for concurrent use.
type Partition struct {
	log    *segment.Log
	opts   Options
	logger *slog.Logger

	// mu is the append lock: a producer's sequence check, offset
	// assignment, the write and the state update happen under it as one
	// step; an fdatasync the log asks for is awaited after it is released
	// (awaitSync). It also guards the machine and every role change and
	// truncation.
	mu                 sync.Mutex
	m                  *machine
	producers          *producerStates
	txns               *txnStates
	bytesSinceSnapshot int64
	closed             bool
	// changed is closed and replaced whenever HW or the role changes:
	// WaitReplicated's wake-up.
	changed chan struct{}

	// highWatermark publishes the machine's HW so that readers never wait
	// for an append; epoch and leading publish the role for the checks of
	// reads.
	highWatermark atomic.Int64
	epoch         atomic.Int32
	leading       atomic.Bool
	isClosed      atomic.Bool

	// snapshotMu serialises snapshot file writes, which run outside mu,
	// with the removal of snapshots a truncation makes stale. truncations
	// counts truncations, changed under mu and snapshotMu.
	snapshotMu  sync.Mutex
	truncations atomic.Uint64
	// snapshotting counts the due snapshots being written in the
	// background; Close awaits them.
	snapshotting sync.WaitGroup

	hwWatch  watchSet // HW moves (consumer long polls)
	endWatch watchSet // LEO moves (follower long polls)
}

// Open wraps an open log: loads the newest producer-state snapshot and replays
// the log after it. With Options.LeaderEpoch >= 0 the replica leads in that
// epoch with itself as the only replica and ISR (the single-node role; the
// replica manager then calls BecomeLeader or BecomeFollower), recording the
// epoch start at LEO; with -1 it is a follower of no one. HW starts at
// Options.HighWatermark bounded by the log start and LEO. The caller keeps
// owning the log and closes it after Close.
func Open(log *segment.Log, opts Options) (*Partition, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Partition{
		log:     log,
		opts:    opts,
		logger:  opts.Logger.With("topic", opts.Topic, "partition", opts.Partition),
		changed: make(chan struct{}),
	}
	leo, logStart := ids.Offset(log.LogEndOffset()), ids.Offset(log.LogStartOffset())
	if p.producers, err = p.loadProducers(int64(leo)); err != nil {
		return nil, p.wrap(err)
	}
	if p.txns, err = p.loadTxns(); err != nil {
		return nil, p.wrap(err)
	}
	hw := min(max(ids.Offset(opts.HighWatermark), logStart), leo)
	p.m = newMachine(ids.NodeID(opts.NodeID), opts.Topic, opts.Partition, opts.MinInsyncReplicas, opts.LagTimeMax, leo, hw, logStart)
	p.highWatermark.Store(int64(hw))
	p.epoch.Store(int32(ids.NoEpoch))
	if opts.LeaderEpoch >= 0 {
		self := []ids.NodeID{ids.NodeID(opts.NodeID)}
		err := p.becomeLeaderLocked(Leadership{Epoch: ids.Epoch(opts.LeaderEpoch), Replicas: self, ISR: self}, time.Now())
		if err != nil {
			return nil, err
		}
		p.takeLocked() // publishes HW; nobody watches yet
	}
	return p, nil
}

// loadProducers rebuilds the producer state at leo: the newest readable
// snapshot at or below leo, then the batches after it. Snapshots above leo
// (left by a truncation, or by power loss before the log's tail was
// durable) and corrupt ones are removed; without a snapshot the whole log
// is replayed.
func (p *Partition) loadProducers(leo int64) (*producerStates, error) {
	snaps := snapshotDirOf(p.log)
	if err := snaps.removeAbove(leo); err != nil {
		return nil, err
	}
	offsets, err := snaps.list()
	if err != nil {
		return nil, err
	}
	from, states := p.log.LogStartOffset(), newProducerStates()
	for _, off := range offsets {
		s, err := snaps.read(off)
		if err == nil {
			from, states = off, s
			break
		}
		if !errors.Is(err, errCorruptSnapshot) {
			return nil, err
		}
		p.logger.Warn("ignoring corrupt producer-state snapshot", "offset", off, "err", err)
		if err := snaps.remove(off); err != nil {
			return nil, err
		}
	}
	var buf []byte
	err = p.log.ScanBatches(from, func(h segment.BatchHeader) error {
		switch {
		case h.BaseOffset < from || h.ProducerID < 0:
		case h.Attributes&segment.AttrControl != 0:
			var err error
			if buf, err = p.readBatchAt(h, buf); err != nil {
				return err
			}
			_, coordinatorEpoch, err := parseMarker(buf)
			if err != nil {
				return fmt.Errorf("marker at offset %d: %w", h.BaseOffset, err)
			}
			states.recordMarker(h, coordinatorEpoch)
		default:
			states.record(producerBatchOf(h))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("replay producer state from offset %d: %w", from, err)
	}
	states.evictBelow(p.log.LogStartOffset())
	p.logger.Debug("producer state loaded", "from", from, "to", leo, "producers", len(states.byID))
	return states, nil
}

// wrap adds the partition to an error.
func (p *Partition) wrap(err error) error {
	return fmt.Errorf("partition %s-%d: %w", p.opts.Topic, p.opts.Partition, err)
}

// CheckLeaderEpoch fences a request by the leader epoch it believes current
// (KIP-320): nil for -1 (no check) or this replica's epoch,
// ErrFencedLeaderEpoch for an older one, ErrUnknownLeaderEpoch for a newer
// one (metadata this broker has not seen yet).
func (p *Partition) CheckLeaderEpoch(current int32) error {
	switch ours := p.epoch.Load(); {
	case current == -1 || current == ours:
		return nil
	case current < ours:
		return p.wrap(fmt.Errorf("%w: request epoch %d, leader epoch %d", ErrFencedLeaderEpoch, current, ours))
	default:
		return p.wrap(fmt.Errorf("%w: request epoch %d, leader epoch %d", ErrUnknownLeaderEpoch, current, ours))
	}
}

// Log is the partition's log, for ListOffsets (OffsetForTimestamp,
// MaxTimestamp) and OffsetForLeaderEpoch (EndOffsetForEpoch).
func (p *Partition) Log() *segment.Log { return p.log }

// HighWatermark is the offset below which records are committed.
func (p *Partition) HighWatermark() int64 { return p.highWatermark.Load() }

// LeaderEpoch is the current leader epoch (as leader or follower), -1
// before any role.
func (p *Partition) LeaderEpoch() int32 { return p.epoch.Load() }

// SnapshotProducers writes a producer-state snapshot at LEO. It returns once
// the snapshot is durable.
func (p *Partition) SnapshotProducers() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return p.wrap(ErrClosed)
	}
	snap := p.captureSnapshotLocked()
	p.mu.Unlock()
	return p.writeSnapshot(snap)
}

// Close snapshots producer state and refuses further appends and reads; the
// log is closed by its owner. Closing twice is a no-op. On a full disk the
// snapshot is skipped, not failed: the next Open replays the log from the
// previous one, as after a crash.
func (p *Partition) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.isClosed.Store(true)
	close(p.changed) // waiting WaitReplicated calls return ErrClosed
	p.changed = make(chan struct{})
	snap := p.captureSnapshotLocked()
	p.mu.Unlock()
	p.snapshotting.Wait()
	err := p.writeSnapshot(snap)
	if errors.Is(err, segment.ErrNoSpace) {
		p.logger.Warn("producer-state snapshot skipped at close: disk full", "offset", snap.offset, "err", err)
		return nil
	}
	return err
}

// captureSnapshotLocked encodes the producer state at LEO, first forgetting
// producers below the log start; mu must be held so that no append moves LEO
// past the state.
func (p *Partition) captureSnapshotLocked() dueSnapshot {
	p.producers.evictBelow(p.log.LogStartOffset())
	if p.txns.evictBelow(p.log.LogStartOffset()) {
		if err := p.rewriteTxnIndexes(p.txns); err != nil {
			p.logger.Warn("txn indexes of deleted segments not removed", "err", err)
		}
	}
	p.bytesSinceSnapshot = 0
	offset := p.log.LogEndOffset()
	return dueSnapshot{offset, encodeSnapshot(offset, p.producers), p.truncations.Load()}
}

// dueSnapshot is a producer-state snapshot to write after unlocking mu, and
// the truncation count when it was taken.
type dueSnapshot struct {
	offset      int64
	data        []byte
	truncations uint64
}

// writeSnapshot writes s unless a truncation came after it: its state may
// hold batches the truncation removed, under an offset the log may reach
// again with other batches.
func (p *Partition) writeSnapshot(s dueSnapshot) error {
	p.snapshotMu.Lock()
	defer p.snapshotMu.Unlock()
	if s.truncations != p.truncations.Load() {
		return nil
	}
	if err := snapshotDirOf(p.log).write(s.offset, s.data); err != nil {
		return p.wrap(err)
	}
	return nil
}

// defaultLagTimeMax is Kafka's replica.lag.time.max.ms default.
const defaultLagTimeMax = 30 * time.Second

// SetLagTimeMax applies a change of the topic's replica.lag.time.max.ms
// (0: the default, as in Options): the next tick judges followers by it.
func (p *Partition) SetLagTimeMax(d time.Duration) error {
	if d < 0 {
		return p.wrap(fmt.Errorf("%w: replica.lag.time.max.ms %v", ErrInvalidOptions, d))
	}
	d = cmp.Or(d, defaultLagTimeMax)
	return p.event(func() error { p.m.setLagMax(d); return nil })
}

// SetMinInsyncReplicas applies a change of the topic's min.insync.replicas.
// Lowering it can let HW catch up with LEO at once.
func (p *Partition) SetMinInsyncReplicas(n int) error {
	if n < 1 {
		return p.wrap(fmt.Errorf("%w: min.insync.replicas %d", ErrInvalidOptions, n))
	}
	return p.event(func() error { p.m.setMinISR(n); return nil })
}

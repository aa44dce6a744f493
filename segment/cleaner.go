package segment

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// The cleaner: goroutines outside the request path that keep choosing the
// dirtiest compacted log of a data directory and clean it (Kafka's
// LogCleaner and LogCleanerManager).

// cleanerCheckpointFile holds each compacted log's first dirty offset.
const cleanerCheckpointFile = "cleaner-offset-checkpoint"

// CleanerConfig is the broker's log.cleaner.* settings.
type CleanerConfig struct {
	Threads           int     // [log.cleaner.threads]
	DedupeBufferBytes int64   // [log.cleaner.dedupe.buffer.size] shared by the threads
	IOBytesPerSecond  float64 // [log.cleaner.io.max.bytes.per.second] reads and writes together
	BackoffMs         int64   // [log.cleaner.backoff.ms] sleep when no log needs cleaning
}

// DefaultCleanerConfig returns Kafka's defaults.
func DefaultCleanerConfig() CleanerConfig {
	return CleanerConfig{Threads: 1, DedupeBufferBytes: 128 << 20, IOBytesPerSecond: math.MaxFloat64, BackoffMs: 15000}
}

// Validate checks the settings.
func (c CleanerConfig) Validate() error {
	switch {
	case c.Threads < 1:
		return fmt.Errorf("%w: log.cleaner.threads %d below minimum 1", ErrInvalidConfig, c.Threads)
	case c.DedupeBufferBytes < int64(c.Threads)*offsetSlotBytes*1024:
		return fmt.Errorf("%w: log.cleaner.dedupe.buffer.size %d below minimum %d (1024 keys per thread)", ErrInvalidConfig, c.DedupeBufferBytes, int64(c.Threads)*offsetSlotBytes*1024)
	case !(c.IOBytesPerSecond > 0):
		return fmt.Errorf("%w: log.cleaner.io.max.bytes.per.second %v not positive", ErrInvalidConfig, c.IOBytesPerSecond)
	case c.BackoffMs < 0:
		return fmt.Errorf("%w: log.cleaner.backoff.ms %d below minimum 0", ErrInvalidConfig, c.BackoffMs)
	}
	return nil
}

// CleanerStats are running totals, for metrics.
type CleanerStats struct {
	Runs, Errors            int64
	BytesRead, BytesWritten int64
}

// CleanerLogState is one compacted log as the cleaner sees it.
type CleanerLogState struct {
	Topic       string
	Partition   int32
	DirtyRatio  float64
	LastCleanMs int64 // wall-clock ms of the last finished clean, 0 when none since start
}

// CleanerPartition is what the cleaner needs of a hosted partition: its
// transactions' state.
type CleanerPartition interface {
	// LastStableOffset bounds what may be cleaned: nothing at or above it
	// (Kafka's cleaner stops at the first unstable offset).
	LastStableOffset() int64
	// AbortedTxns lists the aborted transactions (the .txnindex).
	AbortedTxns() []AbortedTxn
	// ForgetAborts drops aborted transactions whose data is gone, by
	// their marker offsets (CleanLimits.ForgetAborts).
	ForgetAborts(markerOffsets []int64)
	// RewriteTxnIndexes makes the .txnindex files agree with the
	// segments after a clean replaced some.
	RewriteTxnIndexes() error
}

// Cleaner cleans the compacted logs of one data directory.
type Cleaner struct {
	dir   *DataDir
	cfg   CleanerConfig
	hosts func(topic string, partition int32) (CleanerPartition, bool)

	mu         sync.Mutex
	firstDirty map[partitionKey]int64
	busy       map[partitionKey]bool
	lastClean  map[partitionKey]int64
	// failed logs are skipped until their backoff passes (Kafka marks a
	// log uncleanable after an error).
	failedUntil map[partitionKey]int64
	throttle    throttler

	runs, errs, bytesRead, bytesWritten atomic.Int64

	stop chan struct{}
	wg   sync.WaitGroup
}

// NewCleaner reads the data directory's cleaner checkpoint. hosts gives a
// partition the broker hosts, false when it does not.
func (d *DataDir) NewCleaner(cfg CleanerConfig, hosts func(topic string, partition int32) (CleanerPartition, bool)) (*Cleaner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", d.path, err)
	}
	offsets, err := readOffsets(d.opts.FS, filepath.Join(d.path, cleanerCheckpointFile))
	if errors.Is(err, ErrCorruptCheckpoint) {
		// Everything is dirty again: one clean of each log too many.
		d.opts.Logger.Warn("segment: corrupt cleaner checkpoint, cleaning every log from its start", "dir", d.path, "err", err)
		offsets, err = map[partitionKey]int64{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("data dir %s: %w", d.path, err)
	}
	c := &Cleaner{dir: d, cfg: cfg, hosts: hosts, firstDirty: offsets, busy: map[partitionKey]bool{},
		lastClean: map[partitionKey]int64{}, failedUntil: map[partitionKey]int64{}, stop: make(chan struct{})}
	c.throttle = throttler{rate: cfg.IOBytesPerSecond, now: d.opts.Now, stop: c.stop}
	return c, nil
}

// Start runs the cleaner threads until Close.
func (c *Cleaner) Start() {
	for range c.cfg.Threads {
		c.wg.Add(1)
		go c.run()
	}
}

// Close stops the threads, abandoning cleans in progress (their .cleaned
// files are removed, or at the next open), and waits for them.
func (c *Cleaner) Close() {
	c.mu.Lock()
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *Cleaner) run() {
	defer c.wg.Done()
	for {
		cleaned, err := c.CleanOnce()
		if err != nil {
			c.dir.opts.Logger.Error("segment: log cleaner", "err", err)
		}
		if cleaned && err == nil {
			select {
			case <-c.stop:
				return
			default:
				continue
			}
		}
		select {
		case <-c.stop:
			return
		case <-time.After(time.Duration(c.cfg.BackoffMs) * time.Millisecond):
		}
	}
}

var errCleanerStopped = errors.New("log cleaner stopped")

// CleanOnce cleans the dirtiest log that needs it: one overdue by
// max.compaction.lag.ms first, else the one with the largest dirty ratio
// at or above its min.cleanable.dirty.ratio. cleaned is false when no log
// needed cleaning.
func (c *Cleaner) CleanOnce() (cleaned bool, err error) {
	key, l, firstDirty, ok := c.choose()
	if !ok {
		return false, nil
	}
	defer func() {
		c.mu.Lock()
		delete(c.busy, key)
		c.mu.Unlock()
	}()
	p, hosted := c.hosts(key.topic, key.partition)
	if !hosted {
		return false, nil
	}
	// The stable offset first: every transaction with data below it is
	// decided, so its abort is in the list taken after.
	stable := p.LastStableOffset()
	var counted int64
	res, err := l.Clean(CleanLimits{
		FirstDirty:        firstDirty,
		StableOffset:      stable,
		Aborted:           p.AbortedTxns(),
		ForgetAborts:      p.ForgetAborts,
		DedupeBufferBytes: c.cfg.DedupeBufferBytes / int64(c.cfg.Threads),
		Throttle: func(total int64) error {
			n := total - counted
			counted = total
			return c.throttle.wait(n)
		},
	})
	if res.Segments > 0 {
		err = errors.Join(err, p.RewriteTxnIndexes())
	}
	c.runs.Add(1)
	c.bytesRead.Add(res.BytesRead)
	c.bytesWritten.Add(res.BytesWritten)
	nowMs := c.dir.opts.nowMs()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if errors.Is(err, errCleanerStopped) || errors.Is(err, ErrClosed) {
			return true, nil // shutting down, or the log was deleted
		}
		c.errs.Add(1)
		c.failedUntil[key] = nowMs + c.cfg.BackoffMs
		return true, fmt.Errorf("clean %s: %w", key.dirName(), err)
	}
	c.firstDirty[key] = res.FirstDirty
	c.lastClean[key] = nowMs
	return true, c.checkpointLocked()
}

// choose picks the log to clean and marks it busy.
func (c *Cleaner) choose() (partitionKey, *Log, int64, bool) {
	type cand struct {
		key   partitionKey
		l     *Log
		d     Dirtiness
		ratio float64
	}
	var best *cand
	nowMs := c.dir.opts.nowMs()
	c.dir.Logs(func(topic string, partition int32, l *Log) {
		key := partitionKey{topic, partition}
		c.mu.Lock()
		skip, firstDirty := c.busy[key] || nowMs < c.failedUntil[key], c.firstDirty[key]
		if firstDirty > l.LogEndOffset() {
			// The log was truncated below it, or deleted and created
			// again: clean it from its start.
			firstDirty = 0
			c.firstDirty[key] = 0
		}
		c.mu.Unlock()
		p, hosted := c.hosts(topic, partition)
		if skip || !hosted {
			return
		}
		d, ok := l.Dirtiness(firstDirty, p.LastStableOffset())
		if !ok || d.DirtyBytes == 0 || (!d.Overdue && d.Ratio() < l.Config().MinCleanableDirtyRatio) {
			return
		}
		ratio := d.Ratio()
		if d.Overdue {
			ratio += 1 // overdue logs first
		}
		if best == nil || ratio > best.ratio {
			best = &cand{key, l, d, ratio}
		}
	})
	if best == nil {
		return partitionKey{}, nil, 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.busy[best.key] {
		return partitionKey{}, nil, 0, false
	}
	c.busy[best.key] = true
	return best.key, best.l, c.firstDirty[best.key], true
}

// checkpointLocked writes the first dirty offsets of the open logs.
func (c *Cleaner) checkpointLocked() error {
	var entries []string
	c.dir.Logs(func(topic string, partition int32, _ *Log) {
		if o, ok := c.firstDirty[partitionKey{topic, partition}]; ok {
			entries = append(entries, fmt.Sprintf("%s %d %d", topic, partition, o))
		}
	})
	if err := writeCheckpoint(c.dir.opts.FS, filepath.Join(c.dir.path, cleanerCheckpointFile), entries, true); err != nil {
		return fmt.Errorf("data dir %s: cleaner checkpoint: %w", c.dir.path, err)
	}
	return nil
}

// Stats returns the running totals.
func (c *Cleaner) Stats() CleanerStats {
	return CleanerStats{Runs: c.runs.Load(), Errors: c.errs.Load(), BytesRead: c.bytesRead.Load(), BytesWritten: c.bytesWritten.Load()}
}

// LogStates calls fn with each hosted compacted log's state.
func (c *Cleaner) LogStates(fn func(CleanerLogState)) {
	c.dir.Logs(func(topic string, partition int32, l *Log) {
		key := partitionKey{topic, partition}
		c.mu.Lock()
		firstDirty, last := c.firstDirty[key], c.lastClean[key]
		c.mu.Unlock()
		p, hosted := c.hosts(topic, partition)
		if !hosted {
			return
		}
		if d, ok := l.Dirtiness(firstDirty, p.LastStableOffset()); ok {
			fn(CleanerLogState{Topic: topic, Partition: partition, DirtyRatio: d.Ratio(), LastCleanMs: last})
		}
	})
}

// throttler holds the cleaner threads together under a byte rate.
type throttler struct {
	rate float64
	now  func() time.Time
	stop chan struct{}

	mu          sync.Mutex
	windowStart time.Time
	bytes       float64
}

// throttleWindow: the rate is measured over windows this long, so that
// an idle spell does not bank a burst.
const throttleWindow = time.Second

// wait accounts for n bytes and sleeps while the rate is exceeded; it
// fails once the cleaner stops.
func (t *throttler) wait(n int64) error {
	select {
	case <-t.stop:
		return errCleanerStopped
	default:
	}
	if t.rate == math.MaxFloat64 {
		return nil
	}
	t.mu.Lock()
	now := t.now()
	if now.Sub(t.windowStart) > throttleWindow {
		t.windowStart, t.bytes = now, 0
	}
	t.bytes += float64(n)
	ahead := time.Duration(t.bytes/t.rate*float64(time.Second)) - now.Sub(t.windowStart)
	t.mu.Unlock()
	if ahead <= 0 {
		return nil
	}
	select {
	case <-t.stop:
		return errCleanerStopped
	case <-time.After(ahead):
		return nil
	}
}

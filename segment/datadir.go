package segment

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riffle/riffle/segment/vfs"
)

// Files of a data directory, named as Kafka names them.
const (
	recoveryPointFile = "recovery-point-offset-checkpoint"
	logStartFile      = "log-start-offset-checkpoint"
	hwFile            = "replication-offset-checkpoint"
	cleanShutdownFile = ".kafka_cleanshutdown"
	deleteDirSuffix   = "-delete"
)

type partitionKey struct {
	topic     string
	partition int32
}

// DataDir is one data directory: its partition logs, the recovery-point,
// log-start and HW checkpoints and the clean-shutdown marker. Safe for
// concurrent use.
type DataDir struct {
	path             string
	opts             Options
	limit            *fileLimit
	recoveryDuration time.Duration

	mu     sync.Mutex
	logs   map[partitionKey]*Log
	hws    map[partitionKey]int64 // the HW checkpoint as last read or written
	closed bool
}

// OpenDataDir opens every <topic>-<partition> log under path, recovering
// segments past the recovery point unless the last stop was clean (then no
// record bytes are read). It removes the clean-shutdown marker, so a crash
// from here on is seen as unclean, and removes directories of deleted logs.
// cfgFor gives each log's config by topic.
func OpenDataDir(path string, cfgFor func(topic string) Config, opts Options) (*DataDir, error) {
	began := time.Now() // a measurement, not logic: the real clock
	opts = opts.withDefaults()
	if opts.OpenFilesMax < 0 {
		return nil, fmt.Errorf("data dir %s: %w: open files max %d below minimum 0", path, ErrInvalidConfig, opts.OpenFilesMax)
	}
	d := &DataDir{path: path, opts: opts, limit: newFileLimit(opts.OpenFilesMax), logs: map[partitionKey]*Log{}}
	if err := opts.FS.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", path, err)
	}
	if err := d.openLogs(cfgFor); err != nil {
		for _, l := range d.logs {
			_ = l.Close() // the open error is the one to report
		}
		return nil, fmt.Errorf("data dir %s: %w", path, err)
	}
	d.recoveryDuration = time.Since(began)
	return d, nil
}

func (d *DataDir) openLogs(cfgFor func(topic string) Config) error {
	fsys := d.opts.FS
	_, err := fsys.Stat(filepath.Join(d.path, cleanShutdownFile))
	marker := err == nil
	cp, err := d.readCheckpoints(marker)
	if err != nil {
		return err
	}
	d.hws = cp.hws
	names, err := fsys.ReadDir(d.path)
	if err != nil {
		return err
	}
	for _, name := range names {
		dir := filepath.Join(d.path, name)
		if strings.HasSuffix(name, deleteDirSuffix) {
			if err := fsys.RemoveAll(dir); err != nil {
				return err
			}
			continue
		}
		key, ok := parseLogDirName(name)
		if info, err := fsys.Stat(dir); !ok || err != nil || !info.IsDir() {
			continue
		}
		start, ok := cp.logStarts[key]
		if !ok {
			start = -1
		}
		st := logState{clean: cp.clean, recoveryPoint: cp.recoveryPoints[key], logStart: start}
		l, stats, err := openLog(dir, cfgFor(key.topic), d.opts, d.limit, st)
		if err != nil {
			return err
		}
		if stats.segmentsScanned > 0 {
			d.opts.Logger.Info("segment: recovered log", "dir", dir, "segments", stats.segmentsScanned,
				"bytes_scanned", stats.bytesScanned, "bytes_truncated", stats.bytesTruncated)
		}
		d.logs[key] = l
	}
	if cp.corrupt {
		// On a full disk the next open finds them corrupt again and does
		// the same: the logs must serve reads meanwhile.
		if err := d.checkpointLocked(); errors.Is(err, ErrNoSpace) {
			d.opts.Logger.Warn("segment: disk full, corrupt checkpoints not rewritten", "dir", d.path, "err", err)
		} else if err != nil {
			return err
		}
	}
	if marker {
		if err := fsys.Remove(filepath.Join(d.path, cleanShutdownFile)); err != nil {
			return err
		}
		return fsys.SyncDir(d.path)
	}
	return nil
}

// dirCheckpoints is what a data directory's marker and checkpoints say.
type dirCheckpoints struct {
	clean          bool // trust every index: the marker is present and the recovery points parse
	recoveryPoints map[partitionKey]int64
	logStarts      map[partitionKey]int64
	hws            map[partitionKey]int64
	corrupt        bool // a checkpoint did not parse: rewrite both once the logs are open
}

// readCheckpoints reads the recovery-point and log-start checkpoints. A
// corrupt one is logged and replaced by the safe default. Corrupt recovery
// points mean every log is recovered from offset 0, the clean-shutdown
// marker ignored: checkpoints are replaced atomically, so damage means the
// disk, and then its indexes, cannot be trusted. Corrupt log starts mean
// each log starts at its first segment, so records deleted by
// AdvanceLogStart within that segment reappear, as in Kafka on a lost
// checkpoint. An I/O error fails the open: the disk is broken.
func (d *DataDir) readCheckpoints(marker bool) (dirCheckpoints, error) {
	cp := dirCheckpoints{clean: marker}
	var err error
	cp.recoveryPoints, err = readOffsets(d.opts.FS, filepath.Join(d.path, recoveryPointFile))
	switch {
	case errors.Is(err, ErrCorruptCheckpoint):
		d.opts.Logger.Warn("segment: corrupt recovery-point checkpoint, recovering every log from offset 0",
			"dir", d.path, "err", err)
		cp.clean, cp.corrupt = false, true
	case err != nil:
		return cp, err
	}
	cp.logStarts, err = readOffsets(d.opts.FS, filepath.Join(d.path, logStartFile))
	switch {
	case errors.Is(err, ErrCorruptCheckpoint):
		d.opts.Logger.Warn("segment: corrupt log-start checkpoint, starting every log at its first segment (deleted records may reappear)",
			"dir", d.path, "err", err)
		cp.corrupt = true
	case err != nil:
		return cp, err
	}
	// A lost HW only delays consumers until the leader's next HW: each
	// replica starts at its log start, as without the file. The next HW
	// checkpoint replaces it.
	cp.hws, err = readOffsets(d.opts.FS, filepath.Join(d.path, hwFile))
	switch {
	case errors.Is(err, ErrCorruptCheckpoint):
		d.opts.Logger.Warn("segment: corrupt replication-offset (HW) checkpoint, every replica's HW starts at its log start",
			"dir", d.path, "err", err)
	case err != nil:
		return cp, err
	}
	return cp, nil
}

// parseLogDirName splits "<topic>-<partition>" at the last '-' (topic names
// may hold '-' and '.').
func parseLogDirName(name string) (partitionKey, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return partitionKey{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 {
		return partitionKey{}, false
	}
	return partitionKey{name[:i], int32(p)}, true
}

func (k partitionKey) dirName() string { return fmt.Sprintf("%s-%d", k.topic, k.partition) }

// Log returns the open log of a partition, or nil.
func (d *DataDir) Log(topic string, partition int32) *Log {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logs[partitionKey{topic, partition}]
}

// Logs calls fn for every open log, ordered by topic and partition, without
// holding the data directory's lock.
func (d *DataDir) Logs(fn func(topic string, partition int32, l *Log)) {
	d.mu.Lock()
	keys := make([]partitionKey, 0, len(d.logs))
	for k := range d.logs {
		keys = append(keys, k)
	}
	logs := make([]*Log, len(keys))
	sortKeys(keys)
	for i, k := range keys {
		logs[i] = d.logs[k]
	}
	d.mu.Unlock()
	for i, k := range keys {
		fn(k.topic, k.partition, logs[i])
	}
}

// failedLogsReported limits the failures Failed names, so that one bad disk
// under thousands of logs gives a readable error.
const failedLogsReported = 3

// Failed reports the open logs that stopped taking appends (Log.Err): the
// first failedLogsReported failures and how many more there are, or nil
// when every log is healthy.
func (d *DataDir) Failed() error {
	var errs []error
	failed := 0
	d.Logs(func(_ string, _ int32, l *Log) {
		if err := l.Err(); err != nil {
			if failed++; failed <= failedLogsReported {
				errs = append(errs, err)
			}
		}
	})
	if failed > failedLogsReported {
		errs = append(errs, fmt.Errorf("and %d more failed logs", failed-failedLogsReported))
	}
	if len(errs) > 0 {
		return fmt.Errorf("data dir %s: %w", d.path, errors.Join(errs...))
	}
	return nil
}

func sortKeys(keys []partitionKey) {
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].topic != keys[j].topic {
			return keys[i].topic < keys[j].topic
		}
		return keys[i].partition < keys[j].partition
	})
}

// CreateLog creates (or returns, if it is open) a partition's log.
func (d *DataDir) CreateLog(topic string, partition int32, cfg Config) (*Log, error) {
	key := partitionKey{topic, partition}
	if topic == "" || partition < 0 {
		return nil, fmt.Errorf("data dir %s: bad partition %q %d", d.path, topic, partition)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("data dir %s: %w", d.path, ErrClosed)
	}
	if l := d.logs[key]; l != nil {
		return l, nil
	}
	l, _, err := openLog(filepath.Join(d.path, key.dirName()), cfg, d.opts, d.limit, logState{logStart: -1})
	if err != nil {
		return nil, fmt.Errorf("data dir %s: %w", d.path, err)
	}
	if err := d.opts.FS.SyncDir(d.path); err != nil {
		_ = l.Close() // the sync error is the one to report
		return nil, fmt.Errorf("data dir %s: %w", d.path, err)
	}
	d.logs[key] = l
	return l, nil
}

// DeleteLog closes a partition's log and removes its directory: renamed to
// <topic>-<partition>.<random>-delete at once, removed once no region refers
// to its files (or at the next open). Deleting an absent log does nothing.
func (d *DataDir) DeleteLog(topic string, partition int32) error {
	key := partitionKey{topic, partition}
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.logs[key]
	if l == nil {
		return nil
	}
	delete(d.logs, key)
	delete(d.hws, key)
	l.abandon()
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	doomed := filepath.Join(d.path, key.dirName()+"."+hex.EncodeToString(id[:])+deleteDirSuffix)
	if err := d.opts.FS.Rename(l.dir, doomed); err != nil {
		return fmt.Errorf("data dir %s: delete %s: %w", d.path, l.dir, err)
	}
	if err := d.opts.FS.SyncDir(d.path); err != nil {
		return fmt.Errorf("data dir %s: delete %s: %w", d.path, l.dir, err)
	}
	l.files.onAllClosed(func() {
		if err := d.opts.FS.RemoveAll(doomed); err != nil {
			d.opts.Logger.Error("segment: removing deleted log", "dir", doomed, "err", err)
		}
	})
	return nil
}

// CheckpointRecoveryPoints writes the recovery-point and log-start
// checkpoints of every open log.
func (d *DataDir) CheckpointRecoveryPoints() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.checkpointLocked()
}

// HighWatermark is a partition's HW in the replication-offset checkpoint
// (Kafka's replication-offset-checkpoint) as the open read it or
// CheckpointHighWatermarks last wrote it; ok is false when it has none.
func (d *DataDir) HighWatermark(topic string, partition int32) (hw int64, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	hw, ok = d.hws[partitionKey{topic, partition}]
	return hw, ok
}

// PartitionOffset is an offset of one partition.
type PartitionOffset struct {
	Topic     string
	Partition int32
	Offset    int64
}

// CheckpointHighWatermarks replaces the replication-offset checkpoint
// atomically with an entry per open log: its HW in hws, else the one the
// checkpoint held. With durable it returns once the file is durable;
// without, it syncs nothing. The periodic checkpoint need not be durable:
// a crash then leaves an older HW, lower than the one written, which only
// delays consumers until the leader's next HW, or a damaged file, read as
// none (the same). Its fdatasync every 5 s made the disk flush the writeback
// queued behind it, and on this project's test VM each such flush froze
// both vCPUs for 7-15 ms (sampled: no CPU sample on either for that long,
// ~50 ms after the sync began): ack stalls of 10-27 ms every 5 s.
func (d *DataDir) CheckpointHighWatermarks(hws []PartitionOffset, durable bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("data dir %s: %w", d.path, ErrClosed)
	}
	next := make(map[partitionKey]int64, len(d.logs))
	for _, h := range hws {
		if k := (partitionKey{h.Topic, h.Partition}); d.logs[k] != nil {
			next[k] = h.Offset
		}
	}
	keys := make([]partitionKey, 0, len(d.logs))
	for k := range d.logs {
		if _, ok := next[k]; !ok {
			hw, ok := d.hws[k]
			if !ok {
				continue
			}
			next[k] = hw
		}
		keys = append(keys, k)
	}
	sortKeys(keys)
	entries := make([]string, len(keys))
	for i, k := range keys {
		entries[i] = fmt.Sprintf("%s %d %d", k.topic, k.partition, next[k])
	}
	if err := writeCheckpoint(d.opts.FS, filepath.Join(d.path, hwFile), entries, durable); err != nil {
		return fmt.Errorf("data dir %s: %w", d.path, err)
	}
	d.hws = next
	return nil
}

func (d *DataDir) checkpointLocked() error {
	rps, starts := d.checkpointEntries()
	return errors.Join(
		writeCheckpoint(d.opts.FS, filepath.Join(d.path, recoveryPointFile), rps, true),
		writeCheckpoint(d.opts.FS, filepath.Join(d.path, logStartFile), starts, true))
}

// checkpointAtClose writes the checkpoints once every log is durable. On a
// full disk (ErrNoSpace) the close goes on and the marker is written: a
// recovery-point file that did not fit is removed (absent, every log is
// recovered from 0 after a later crash; a clean start ignores it), and a
// log-start file that did not fit is left as it was (records deleted within
// a segment since it was written reappear, as in Kafka on a lost
// checkpoint; whole segments stay deleted).
func (d *DataDir) checkpointAtClose() error {
	rps, starts := d.checkpointEntries()
	rpPath := filepath.Join(d.path, recoveryPointFile)
	rpErr := writeCheckpoint(d.opts.FS, rpPath, rps, true)
	if errors.Is(rpErr, ErrNoSpace) {
		d.opts.Logger.Warn("segment: disk full at close, removing the recovery-point checkpoint instead",
			"dir", d.path, "err", rpErr)
		if rpErr = d.opts.FS.Remove(rpPath); errors.Is(rpErr, fs.ErrNotExist) {
			rpErr = nil
		}
	}
	startErr := writeCheckpoint(d.opts.FS, filepath.Join(d.path, logStartFile), starts, true)
	if errors.Is(startErr, ErrNoSpace) {
		d.opts.Logger.Warn("segment: disk full at close, log-start checkpoint left as it was",
			"dir", d.path, "err", startErr)
		startErr = nil
	}
	return errors.Join(rpErr, startErr)
}

// checkpointEntries lists every open log's recovery point and log start.
func (d *DataDir) checkpointEntries() (rps, starts []string) {
	keys := make([]partitionKey, 0, len(d.logs))
	for k := range d.logs {
		keys = append(keys, k)
	}
	sortKeys(keys)
	for _, k := range keys {
		l := d.logs[k]
		rps = append(rps, fmt.Sprintf("%s %d %d", k.topic, k.partition, l.RecoveryPoint()))
		starts = append(starts, fmt.Sprintf("%s %d %d", k.topic, k.partition, l.LogStartOffset()))
	}
	return rps, starts
}

// RecoveryDuration is how long the start-up recovery took.
func (d *DataDir) RecoveryDuration() time.Duration { return d.recoveryDuration }

// Close flushes and closes every log, writes the checkpoints and, when all
// of that succeeded, the clean-shutdown marker.
func (d *DataDir) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	for _, l := range d.logs {
		errs = append(errs, l.Close())
	}
	errs = append(errs, d.checkpointAtClose())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("data dir %s: close: %w", d.path, err)
	}
	if err := d.writeCleanMarker(); err != nil {
		return fmt.Errorf("data dir %s: close: %w", d.path, err)
	}
	return nil
}

func (d *DataDir) writeCleanMarker() error {
	f, err := d.opts.FS.OpenFile(filepath.Join(d.path, cleanShutdownFile), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return d.opts.FS.SyncDir(d.path)
}

// readOffsets reads a "topic partition offset" checkpoint; empty when absent.
// A bad entry, like a bad file, gives ErrCorruptCheckpoint.
func readOffsets(fsys vfs.FS, path string) (map[partitionKey]int64, error) {
	entries, err := readCheckpoint(fsys, path, 3)
	if err != nil {
		return nil, err
	}
	offsets := make(map[partitionKey]int64, len(entries))
	for _, e := range entries {
		p, err1 := strconv.ParseInt(e[1], 10, 32)
		o, err2 := strconv.ParseInt(e[2], 10, 64)
		if err1 != nil || err2 != nil || p < 0 || o < 0 {
			return nil, fmt.Errorf("checkpoint %s: %w: bad entry %q", path, ErrCorruptCheckpoint, e)
		}
		offsets[partitionKey{e[0], int32(p)}] = o
	}
	return offsets, nil
}

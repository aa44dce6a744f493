package segment

// CONTRACT SKELETON (written by the lead to let other packages compile).
// The segment implementer replaces every body and may move these
// declarations into other files and add to them, but must keep these
// exported names and signatures (or agree a change with the lead).

import (
	"errors"
	"log/slog"
	"time"

	"github.com/riffle/riffle/segment/vfs"
)

// Sentinel errors; wrap them with context, test with errors.Is.
var (
	ErrOffsetOutOfRange = errors.New("offset out of range")    // below log start or beyond LEO
	ErrCorruptBatch     = errors.New("corrupt record batch")   // CRC, magic, length or count wrong
	ErrBatchTooLarge    = errors.New("record batch too large") // > Config.BatchBytesMax
	ErrClosed           = errors.New("log closed")
	ErrInvalidConfig    = errors.New("invalid segment config")
)

// Config is one log's limits and policies (Kafka topic configs in brackets).
type Config struct {
	SegmentBytes       int64 // [segment.bytes] roll when the active segment would pass this
	SegmentMs          int64 // [segment.ms] roll when the active segment's first append is older
	IndexIntervalBytes int32 // [index.interval.bytes]
	IndexBytesMax      int32 // [segment.index.bytes] preallocated size of each index
	BatchBytesMax      int32 // [max.message.bytes]
	RetentionBytes     int64 // [retention.bytes] -1: unlimited
	RetentionMs        int64 // [retention.ms] -1: unlimited
	FlushMessages      int64 // [flush.messages] fdatasync after this many records
	FlushMs            int64 // [flush.ms] fdatasync when unflushed data is older than this
	SyncEveryAppend    bool  // fsync before acknowledge: Append returns only once durable
	FileDeleteDelayMs  int64 // [file.delete.delay.ms]
	LogAppendTime      bool  // [message.timestamp.type=LogAppendTime]
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config { panic("unimplemented") }

// Validate checks every limit; the error names the limit and the value.
func (c Config) Validate() error { panic("unimplemented") }

// Options are the seams: filesystem, clock, logger.
type Options struct {
	FS     vfs.FS           // vfs.OS when nil
	Now    func() time.Time // time.Now when nil
	Logger *slog.Logger     // slog.Default() when nil
}

// AppendResult describes an appended batch after offset assignment.
type AppendResult struct {
	BaseOffset    int64
	LastOffset    int64
	MaxTimestamp  int64
	LogAppendTime int64 // -1 unless the log stamps LogAppendTime
}

// Region is a byte range of one segment file, starting at a batch boundary.
// It keeps the file open until Release; Release exactly once.
type Region struct {
	File vfs.File
	Pos  int64
	Len  int64
}

// Release drops the region's reference to its segment file.
func (r *Region) Release() { panic("unimplemented") }

// Log is one partition's log: a directory of segments. Safe for concurrent use.
type Log struct{}

// Append validates batch, assigns offsets by rewriting baseOffset and
// partitionLeaderEpoch in place (maxTimestamp and CRC for LogAppendTime) and
// appends it. Durability is as the package doc states.
func (l *Log) Append(batch []byte, leaderEpoch int32) (AppendResult, error) {
	panic("unimplemented")
}

// AppendReplicated appends a batch that already carries its offsets
// (follower path); its base offset must equal LEO.
func (l *Log) AppendReplicated(batch []byte) (AppendResult, error) { panic("unimplemented") }

// Read returns the region starting at the batch that contains offset, ending
// before the first batch whose base offset is >= upperOffset (HW or LSO), at
// most maxBytes long unless minOneBatch and the first batch is larger (then
// that whole batch). offset == LEO (or >= upperOffset) gives an empty region.
// offset below log start or beyond LEO gives ErrOffsetOutOfRange.
func (l *Log) Read(offset int64, maxBytes int32, upperOffset int64, minOneBatch bool) (Region, error) {
	panic("unimplemented")
}

// OffsetForTimestamp returns the first offset whose timestamp >= ts and that
// record's timestamp; found is false when no such record exists.
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, timestamp int64, found bool, err error) {
	panic("unimplemented")
}

// MaxTimestamp returns the offset and timestamp of the record with the
// largest timestamp (ListOffsets -3); offset -1 when the log is empty.
func (l *Log) MaxTimestamp() (offset int64, timestamp int64) { panic("unimplemented") }

// ScanBatches calls fn with the header of every batch whose last offset is >=
// from, in order, reading headers only.
func (l *Log) ScanBatches(from int64, fn func(h BatchHeader) error) error {
	panic("unimplemented")
}

func (l *Log) Dir() string           { panic("unimplemented") }
func (l *Log) LogStartOffset() int64 { panic("unimplemented") }
func (l *Log) LogEndOffset() int64   { panic("unimplemented") }
func (l *Log) RecoveryPoint() int64  { panic("unimplemented") } // everything below is durable
func (l *Log) SizeBytes() int64      { panic("unimplemented") }
func (l *Log) SegmentCount() int     { panic("unimplemented") }
func (l *Log) Config() Config        { panic("unimplemented") }

// SetConfig changes the log's config (topic config change).
func (l *Log) SetConfig(c Config) error { panic("unimplemented") }

// Flush makes everything appended so far durable.
func (l *Log) Flush() error { panic("unimplemented") }

// Tick runs time-driven work: roll by segment.ms, flush by flush.ms,
// retention, and unlinking of .deleted files whose delay has passed.
func (l *Log) Tick() error { panic("unimplemented") }

// TruncateTo removes every record at or above offset.
func (l *Log) TruncateTo(offset int64) error { panic("unimplemented") }

// AdvanceLogStart raises the log start offset (DeleteRecords, retention).
func (l *Log) AdvanceLogStart(offset int64) error { panic("unimplemented") }

// Leader epoch cache, persisted in leader-epoch-checkpoint.
func (l *Log) AssignEpochStart(epoch int32, startOffset int64) error { panic("unimplemented") }

// EndOffsetForEpoch returns the largest epoch <= epoch and its end offset
// (the next epoch's start, or LEO); (-1, -1) when unknown.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) { panic("unimplemented") }
func (l *Log) LatestEpoch() int32                           { panic("unimplemented") }

// Close flushes and closes; regions still held stay valid until released.
func (l *Log) Close() error { panic("unimplemented") }

// DataDir is one data directory: its partition logs, the recovery-point
// checkpoint and the clean-shutdown marker.
type DataDir struct{}

// OpenDataDir opens every <topic>-<partition> log under path, recovering
// segments past the recovery point unless the last stop was clean.
// cfgFor gives each log's config by topic.
func OpenDataDir(path string, cfgFor func(topic string) Config, opts Options) (*DataDir, error) {
	panic("unimplemented")
}

// Log returns the open log of a partition, or nil.
func (d *DataDir) Log(topic string, partition int32) *Log { panic("unimplemented") }

// Logs calls fn for every open log.
func (d *DataDir) Logs(fn func(topic string, partition int32, l *Log)) { panic("unimplemented") }

// CreateLog creates (or opens, if it exists) a partition's log.
func (d *DataDir) CreateLog(topic string, partition int32, cfg Config) (*Log, error) {
	panic("unimplemented")
}

// DeleteLog closes a partition's log and removes its directory (renamed
// first, removed once no region refers to its files).
func (d *DataDir) DeleteLog(topic string, partition int32) error { panic("unimplemented") }

// CheckpointRecoveryPoints writes the recovery-point checkpoint.
func (d *DataDir) CheckpointRecoveryPoints() error { panic("unimplemented") }

// RecoveryDuration is how long the start-up recovery took.
func (d *DataDir) RecoveryDuration() time.Duration { panic("unimplemented") }

// Close flushes and closes every log, writes the recovery points and the
// clean-shutdown marker.
func (d *DataDir) Close() error { panic("unimplemented") }

package segment

import (
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/riffle/riffle/segment/vfs"
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
	// RollSyncInline: the append that rolls waits for the sealed segment's
	// sync instead of starting it on a goroutine of its own. For a log whose
	// owner flushes every write anyway (the metadata log), so that all its
	// file operations stay on the caller's goroutine.
	RollSyncInline    bool
	FileDeleteDelayMs int64 // [file.delete.delay.ms]
	LogAppendTime     bool  // [message.timestamp.type=LogAppendTime]

	// Compaction (clean*.go); retention above applies as well when the
	// policy is compact,delete.
	Compact                bool    // [cleanup.policy] holds compact
	DeleteRetentionMs      int64   // [delete.retention.ms] tombstones kept this long
	MinCompactionLagMs     int64   // [min.compaction.lag.ms] records stay uncompacted at least this long
	MaxCompactionLagMs     int64   // [max.compaction.lag.ms] a dirty record is cleaned within about this long
	MinCleanableDirtyRatio float64 // [min.cleanable.dirty.ratio] dirty share that makes a log worth cleaning
}

// Limits checked by Validate.
const (
	// segmentBytesMax: index positions are int32.
	segmentBytesMax = math.MaxInt32
	// indexBytesMin holds one time-index entry, which a segment's final
	// max-timestamp entry needs.
	indexBytesMin = timeEntrySize
	indexBytesMax = 1 << 30
	batchBytesMax = 1 << 30
)

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * 3600 * 1000,
		IndexIntervalBytes: 4096,
		IndexBytesMax:      10 << 20,
		BatchBytesMax:      1048588,
		RetentionBytes:     -1,
		RetentionMs:        7 * 24 * 3600 * 1000,
		FlushMessages:      math.MaxInt64,
		FlushMs:            1000, // Kafka: never; a second keeps each disk flush small (config.toml)
		FileDeleteDelayMs:  60000,

		DeleteRetentionMs:      86400000,
		MaxCompactionLagMs:     math.MaxInt64,
		MinCleanableDirtyRatio: 0.5,
	}
}

// Validate checks every limit; the error names the limit and the value.
func (c Config) Validate() error {
	checks := []struct {
		key      string
		val      int64
		min, max int64
		why      string
	}{
		{"segment.bytes", c.SegmentBytes, BatchHeaderSize, segmentBytesMax, "one batch header; index positions are int32"},
		{"segment.ms", c.SegmentMs, 1, math.MaxInt64, ""},
		{"index.interval.bytes", int64(c.IndexIntervalBytes), 0, math.MaxInt32, ""},
		{"segment.index.bytes", int64(c.IndexBytesMax), indexBytesMin, indexBytesMax, "one time-index entry"},
		{"max.message.bytes", int64(c.BatchBytesMax), BatchHeaderSize, batchBytesMax, "one batch header"},
		{"retention.bytes", c.RetentionBytes, -1, math.MaxInt64, "-1 is unlimited"},
		{"retention.ms", c.RetentionMs, -1, math.MaxInt64, "-1 is unlimited"},
		{"flush.messages", c.FlushMessages, 1, math.MaxInt64, ""},
		{"flush.ms", c.FlushMs, 0, math.MaxInt64, ""},
		{"file.delete.delay.ms", c.FileDeleteDelayMs, 0, math.MaxInt64, ""},
		{"delete.retention.ms", c.DeleteRetentionMs, 0, math.MaxInt64, ""},
		{"min.compaction.lag.ms", c.MinCompactionLagMs, 0, math.MaxInt64, ""},
		{"max.compaction.lag.ms", c.MaxCompactionLagMs, 1, math.MaxInt64, ""},
	}
	if !(c.MinCleanableDirtyRatio >= 0 && c.MinCleanableDirtyRatio <= 1) {
		return fmt.Errorf("%w: min.cleanable.dirty.ratio %v outside [0, 1]", ErrInvalidConfig, c.MinCleanableDirtyRatio)
	}
	for _, ch := range checks {
		var bound string
		var limit int64
		switch {
		case ch.val < ch.min:
			bound, limit = "below minimum", ch.min
		case ch.val > ch.max:
			bound, limit = "above maximum", ch.max
		default:
			continue
		}
		err := fmt.Errorf("%w: %s %d %s %d", ErrInvalidConfig, ch.key, ch.val, bound, limit)
		if ch.why != "" {
			err = fmt.Errorf("%w (%s)", err, ch.why)
		}
		return err
	}
	return nil
}

// Options are the seams: filesystem, clock, logger.
type Options struct {
	FS     vfs.FS           // vfs.OS when nil
	Now    func() time.Time // time.Now when nil
	Logger *slog.Logger     // slog.Default() when nil
	// OpenFilesMax bounds the segment and index files a data directory
	// keeps open (3 per segment, plus files that regions still hold); 0 is
	// unlimited. Opening or rolling past it fails with ErrOpenFilesLimit.
	OpenFilesMax int64
	// OnSync, if set, is called after each flush of a log (the fdatasyncs
	// of its unsynced files and, if needed, its directory) with how long it
	// took, failed or not. It runs on the flushing goroutine: keep it quick.
	OnSync func(time.Duration)
}

func (o Options) withDefaults() Options {
	if o.FS == nil {
		o.FS = vfs.OS
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func (o Options) nowMs() int64 { return o.Now().UnixMilli() }

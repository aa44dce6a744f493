// Package segment stores one partition's log on disk in Kafka's layout and
// format, and serves reads as file regions for sendfile.
//
// # Layout
//
//	<data_dir>/
//	  recovery-point-offset-checkpoint   "0\n<n>\n" then "<topic> <partition> <offset>" lines
//	  log-start-offset-checkpoint        same format
//	  replication-offset-checkpoint      same format: each replica's HW, written by the replica
//	                                     manager every replica.high.watermark.checkpoint.interval.ms,
//	                                     synced only at close (DataDir.CheckpointHighWatermarks)
//	  cleaner-offset-checkpoint          same format: each compacted log's first dirty offset
//	  .kafka_cleanshutdown               present only after a clean Close
//	  <topic>-<partition>/               split at the last '-'
//	    00000000000000000000.log         record batches (magic 2), exactly as on the wire
//	    00000000000000000000.index       8-byte entries: int32 offset - base, int32 position
//	    00000000000000000000.timeindex   12-byte entries: int64 timestamp, int32 offset - base
//	    leader-epoch-checkpoint          "0\n<n>\n" then "<epoch> <start offset>" lines
//	    *.deleted                        segments awaiting unlink
//	    *.cleaned, *.swap                a clean's new segment, before and after its commit point
//	  <topic>-<partition>.<id>-delete/   a deleted log awaiting removal
//
// File names are the segment's base offset in 20 digits; all integers are
// big-endian. Checkpoints are replaced atomically (temporary file, fsync,
// rename, fsync of the directory).
//
// The offset index is sparse: after every index.interval.bytes of batches the
// next batch gets an entry (its last offset, its position). The time index
// gets an entry at the same points when the segment's running maximum
// timestamp rose, holding that maximum and the offset of the record that
// carries it, plus a final entry when the segment is sealed. Appends do not
// decompress, so for a compressed batch that offset is the batch's last: a
// lookup needs only the batch. The active
// segment's index files are sized to segment.index.bytes, sparse; sealed
// ones are trimmed to their entries. Every index is mapped read-only and
// entries are written with pwrite: a store through a map into a hole needs
// a disk block, and on a full disk that page fault is SIGBUS, while pwrite
// fails with ENOSPC and reading a hole gives zeros. New entries are held in
// memory and written 1 KiB at a time and at trim (the open after a crash
// rebuilds the active segment's indexes anyway). Lookups binary
// search the last 8 KiB of an index first, then the rest, then read batch
// headers (61 bytes each) forward from the entry found. A read of one of
// the active segment's last 16 appended batches, what a caught-up consumer
// or a follower asks for, skips all that: the segment keeps their headers
// and positions in memory (forgotten when batches are cut off). Reads never
// read record bytes. OffsetForTimestamp reads the records of one batch, and
// MaxTimestamp those of the batch holding the maximum when its record is not
// yet known (a compressed batch, or a batch seen by header only at open);
// compressed records are decompressed as a stream (package codec), at most
// 64 times max.message.bytes, so both answers are exact record offsets. A
// batch that fails to decompress, which produce validation rules out,
// answers at batch level: its first offset for a timestamp, its last for
// the maximum.
//
// # Files
//
// log.go (Log: append, read, accessors), segment.go (one segment), index.go
// (mmap'd indexes), region.go (regions and file reference counts), flush.go
// (durability, group commit), retention.go (retention, deletion, Tick,
// AdvanceLogStart), truncate.go, recovery.go (open and recovery), datadir.go,
// checkpoint.go, epoch.go (leader epoch cache), records.go (record
// timestamps, through codec for compressed batches), config.go, batch.go
// (the v2 batch header; Batch, the validated batch the log takes);
// compaction: clean_records.go (the key map, the
// rules, the batch rewrite: no I/O), clean_txn.go (transactions under
// cleaning: no I/O), clean.go (one clean of a log),
// clean_swap.go (writing and swapping in cleaned segments, finishing a
// swap at open), cleaner.go (the cleaner threads, choice, throttle,
// checkpoint). The cleaner lives in this package because a swap replaces
// segments under the log's lock and its recovery is part of open.
//
// # Compaction
//
// A clean maps each key of the dirty section (cleaner checkpoint to the
// first uncleanable offset: the active segment, a segment newer than
// min.compaction.lag.ms, or one reaching the last stable offset the
// caller gives) to its latest offset, within a fixed budget; then it
// rewrites the segments from the first up to the map's end, in groups
// that fit one segment, dropping records whose key has a later mapped
// offset, tombstones past delete.retention.ms, keyless records, the
// records of aborted transactions (the caller lists them) and markers with
// no batch of their transaction left, past delete.retention.ms
// (clean_txn.go). Kept
// records keep their offsets and bytes; a rewritten batch keeps its header
// but for the record count, max timestamp and CRC, so a stored batch may
// hold fewer records than offsets, or none (an empty batch, kept for an
// idempotent producer's last batch and for the last batch of a group, so
// that a cleaned segment ends where its group did and the segments stay
// contiguous). Recovery and replicated appends accept such batches; a
// follower takes a batch above its LEO (a hole). The swap is crash-safe:
// see clean_swap.go.
//
// # Durability
//
// Appends are written with pwrite into the page cache under the log's lock.
// pwrite beats copying into a writable shared mapping of a preallocated
// file (BenchmarkAppendMmapVsPwrite, 2 vCPU VM, ext4, page cache: 16 KiB
// appends 3.5-4.1 GB/s by pwrite vs 2.1-2.4 GB/s through the map; 1 MiB
// appends 5.5 vs 3.4 GB/s), so appends never go through a map. Each
// append that brings the active segment 1 MiB past the last writeback asks
// the kernel, on a goroutine of its own, to start writing that out, and
// Tick asks for whatever smaller rest there is (sync_file_range, not a
// sync): without it, ext4 let ~800 MB of dirty pages pile up, and the
// journal commit that finally wrote them stalled appends for ~0.5 s
// (produce p99 389 ms at 50k x 1 KiB/s; 3.9 ms with it). It asks in 1 MiB
// pieces: writeback allocates the delayed blocks of the range it is given
// under the inode's block-map lock, which appends need too, and one call
// for a second's 50 MB held appends for 10-20 ms (BenchmarkAppendTail: 13
// appends over 10 ms in 80,000; 1 with pieces). And it asks as the data
// comes rather than once a second: the kernel does that work in the
// calling thread, and as one burst a second it stalled the requests behind
// it when the broker had one CPU (ack stalls over 10 ms starting at the
// second's turn, 40 s runs at 50,000 x 1 KiB/s: 38 and 37 before, 7 and 1
// after).
// An append is durable once an fdatasync of its segment file has completed
// after the write; RecoveryPoint reports the offset below which that holds.
//
//   - SyncEveryAppend false (Kafka's default): Append returns once the batch
//     is in the page cache; it is not yet durable. It becomes durable at the
//     first of: the append that brings the records written since the last
//     sync to flush.messages, which syncs before it returns; a Tick or FlushIfDue
//     that finds unsynced data older than flush.ms; a roll, which starts a sync
//     of the sealed segment and the new one's directory entry on a
//     goroutine of its own (as Kafka flushes a rolled segment
//     asynchronously: in BenchmarkAppendTail the rolling append waited
//     20-60 ms for it, and every produce response on its connection with
//     it); Flush; Close. Until then a crash of
//     the machine (not of the process) may lose it; replication covers that.
//   - SyncEveryAppend true: Append returns only after an fdatasync that began
//     after the batch was written has completed: the batch is durable when
//     Append returns, and only then may it be acknowledged. Syncs are group
//     commits: one at a time per log, outside the lock, each covering every
//     batch written before it began, so concurrent appenders share them.
//     Write (and WriteReplicated) return before that sync, with a Pending
//     whose Wait gives Append's guarantee: a caller with a lock of its own
//     (the partition's append lock) waits after releasing it.
//
// A sync writes the segment files before the directory, so a new segment
// is never durable ahead of the data before it. TruncateTo makes the removal
// of later segments durable before it cuts the last one, and that cut
// before it rewrites the leader-epoch checkpoint: it is durable when it
// returns, and no batch it removed can return after power loss with its
// epoch gone from the checkpoint. TruncateFullyAndStartAt (a replica
// adopting a snapshot of records it lacks) is durable when it returns.
// Recovery also assigns the epochs of the batches it re-reads to the cache
// when newer than the checkpoint's latest, as Kafka does.
//
// A failed fdatasync, a roll that fails to seal the active segment, or a
// failed truncation makes the log refuse further appends and truncations
// (ErrFailed: what is on disk is then unknown, and after a failed fdatasync
// the kernel may have dropped the dirty pages); reads go on, and the log
// always holds a prefix of what was appended.
//
// # Full disk
//
// ENOSPC (ErrNoSpace) fails the one append that met it and nothing else:
// the log is not failed, and every append tries the disk again, so appends
// resume by themselves once space returns. Nothing of the failed batch
// stays: a new leader epoch is checkpointed before its first batch, a torn
// batch write is cut back to the last whole batch (or, if that cut fails,
// overwritten by the next append and cut by the next open), and a roll
// that cannot create its segment changes nothing. A leader-epoch
// checkpoint that does not fit at open, at AssignEpochStart or after a
// truncation stays stale until the next append writes it before its batch
// (an open drops entries past the LEO). An index entry the disk refuses is
// skipped, and held entries it refuses at trim are dropped (lookups scan a
// little further). Reads and Close need no new
// blocks; fdatasync needs none on ext4, which reserves delayed blocks at
// write time, and one that fails anyway fails the log as above. The first
// ENOSPC and the first append after it are logged, once each.
//
// # Recovery
//
// DataDir.Close writes the checkpoints and then the clean-shutdown marker;
// OpenDataDir removes it once the logs are open. After a clean stop a log is
// opened from its indexes and the batch headers after each segment's last
// index entry, which must name a batch ending at its offset; no record bytes
// are read (an index that does not match its log is rebuilt). After an
// unclean stop every segment that may hold offsets at or above the log's
// recovery point is scanned through a read-only map: each batch's length,
// magic, CRC and offsets are verified, the indexes are rebuilt, the file is
// cut before the first bad batch and any later segment is deleted. A
// corrupt batch is never served or kept.
//
// The log is the contiguous run of segments from its first: a segment that
// does not begin where the one before ends (a hole or an overlap, left by
// power loss when a directory entry was durable before the data before it)
// is deleted with every later one, and an empty segment that is not the
// last (a roll that failed half way) is deleted alone. Damaged segments
// and indexes are cut or rebuilt, never refused, so the broker starts; a
// gap is never served. Lookups
// treat the offset index as a hint: if the batch found from an entry does
// not hold the offset, the scan starts again at the segment's start.
// OffsetForTimestamp skips ahead by a time index entry only when the batch
// it names has the entry's timestamp as its maximum.
//
// A checkpoint that does not parse (ErrCorruptCheckpoint) is logged,
// replaced by a safe default and rewritten: corrupt recovery points recover
// every log from offset 0, clean-shutdown marker or not; corrupt log starts
// start each log at its first segment (records deleted within it
// reappear, as in Kafka); a corrupt leader-epoch checkpoint is rebuilt from
// the batches' partitionLeaderEpoch fields. An I/O error reading a
// checkpoint fails the open.
//
// # Deletion
//
// Retention, AdvanceLogStart and TruncateTo rename segment files to .deleted
// at once; Tick unlinks them once file.delete.delay.ms has passed and no
// Region or sync still refers to them. A Region keeps its file open, so a
// fetch in flight always completes from the file it started on.
package segment

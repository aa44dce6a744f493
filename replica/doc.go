// Package replica is one partition's replication state on this broker: the
// leader epoch, the ISR, the high watermark (HW), the log end offset (LEO) and
// the idempotent-producer state. It sits on a segment.Log and knows nothing of
// the network or the metadata quorum.
//
// This version serves a single node: the ISR is the leader alone, so HW
// follows LEO on every append. The HW rule already lives in a pure state
// (hwState: HW = min LEO over the ISR, never advancing while the ISR is
// smaller than min.insync.replicas) so that follower LEOs can be fed in later.
//
// # Files
//
//	partition.go  Partition, Open (snapshot load + log replay), Close, accessors
//	append.go     AppendAsLeader: epoch, min.insync.replicas, sequence check, append
//	read.go       Read up to HW/LSO/LEO, Watch for HW moves
//	producer.go   idempotent-producer state machine (pure)
//	hw.go         high-watermark rule (pure)
//	snapshot.go   producer-state snapshot format and files
//
// # Idempotent producers
//
// Per producer id the partition keeps the epoch and the last 5 batches
// (first/last sequence, first/last offset, max timestamp). A batch is checked
// before it is appended, under the partition's append lock:
//
//	no state for the producer id        accept any sequence, start tracking
//	epoch < current                     ErrInvalidProducerEpoch
//	epoch > current                     sequence must be 0, else ErrOutOfOrderSequence
//	same epoch, (first,last) seq equals
//	  one of the last 5 batches          duplicate: not appended, original offsets
//	same epoch, first seq == last+1     append (MaxInt32 wraps to 0)
//	otherwise                           ErrOutOfOrderSequence
//
// Producers whose last batch lies below the log start offset are forgotten
// when a snapshot is taken (and on load): replay could not rebuild them
// either. There is no time-based expiry (producer.id.expiration.ms) yet.
//
// # Snapshots
//
// The producer state is written to <log dir>/<20-digit offset>.snapshot, the
// offset being the LEO the state covers: on Close, on SnapshotProducers, and
// on the append after which a segment's worth of bytes (segment.bytes) was
// appended since the last snapshot. Writes are atomic (temporary file, fsync,
// rename, directory fsync) and the newest 3 snapshots are kept. Open loads the
// newest snapshot at or below LEO, deleting those above LEO (a truncation) and
// corrupt ones, falls back to the log start without one, and replays batch
// headers from there to LEO. Snapshot files use package os directly, not
// segment's vfs seam. A truncation made through the log directly (there is no
// follower path yet) is reconciled only by the next Open; the follower path
// must drop snapshots above the truncation point and reload the state at once.
//
// Snapshot layout, version 1, big-endian:
//
//	0   version        u16  1
//	2   crc            u32  CRC-32C of every byte after this field
//	6   offset         i64  state covers every batch below this offset
//	14  producer count u32
//	18  producers, in id order:
//	      producer id i64, epoch i16, batch count u8 (1..5), then per batch,
//	      oldest first: first seq i32, last seq i32, first offset i64,
//	      last offset i64, max timestamp i64
package replica

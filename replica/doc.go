// Package replica is one partition's replica on this broker: its role
// (leader or follower) and leader epoch, the leader's ISR and high
// watermark (HW), the log end offset (LEO) and the idempotent-producer
// state. It sits on a segment.Log and knows nothing of the network or the
// metadata quorum: the replica manager feeds it role changes and committed
// ISRs from the metadata image and sends its ISR proposals (Options.ProposeISR)
// to the controller; the Kafka layer serves follower fetches with it.
//
// # Files
//
//	partition.go  Partition, Open (snapshot load + log replay), Close, accessors
//	roles.go      role changes, the leader's side: ReadForFollower, Tick, ISR
//	              updates, WaitReplicated
//	follower.go   the follower's side: AppendAsFollower, FetchPosition,
//	              UpdateFollowerHW, UpdateFollowerLogStart,
//	              TruncateOnDivergence, RestartAt
//	machine.go    the replication rules as a pure state machine (no I/O, time
//	              passed in): HW, ISR shrink and expand, truncation offsets
//	append.go     AppendAsLeader: role, epoch, min.insync.replicas, sequence check, append
//	read.go       Read up to HW/LSO/LEO, Watch for HW moves
//	producer.go   idempotent-producer state machine (pure)
//	snapshot.go   producer-state snapshot format and files
//	txn.go        transactions: open ones (LSO), aborted ones, markers
//	              (AppendMarker), coordinator batches, DescribeProducers
//	txnindex.go   the aborted-transactions index files (.txnindex)
//
// The Partition is a thin shell: under its lock it appends to the log and
// feeds the machine (a local append, a follower fetch, a tick, a committed
// or rejected ISR), then takes its actions: HW moved (published atomically,
// watchers and acks=all waiters woken), an AlterPartition to propose
// (called after unlocking; ProposeISR must not block).
//
// # Roles
//
// Open with Options.LeaderEpoch >= 0 leads with the replica alone as
// replicas and ISR (one node: HW follows LEO); with -1 the replica follows
// no one until BecomeLeader or BecomeFollower. BecomeLeader records the
// epoch's start at LEO in the log's epoch cache before any append
// (KIP-279) and refuses an epoch below the replica's or its log's
// (ErrFencedLeaderEpoch); called again in the same epoch it only adopts new
// replicas and ISR. A follower refuses produces and consumer reads
// (ErrNotLeader); the leader refuses replicated appends and truncations
// (ErrNotFollower).
//
// # Leader rules (Kafka's Partition and Replica, cluster-notes §1-2)
//
//   - A follower's LEO is the fetch offset of its last fetch that did not
//     diverge. It is caught up when its LEO equals the leader's or it was
//     caught up within replica.lag.time.max.ms (Options.LagTimeMax):
//     lastCaughtUp becomes the fetch's time when the fetch offset reaches
//     the leader's LEO at that fetch, else the previous fetch's time when
//     it reaches the leader's LEO at the previous fetch. On a new leader
//     epoch ISR followers count as caught up now, the others never, and
//     LEOs are unknown until they fetch.
//   - HW does not advance while the committed ISR is smaller than
//     min(min.insync.replicas, replication factor); otherwise it is the
//     smallest LEO of the leader, the maximal ISR, and followers caught up
//     and eligible but not in the ISR yet. It never moves back.
//   - One ISR change in flight. The maximal ISR is the committed one plus a
//     member being added; a shrink is never assumed. Tick proposes removing
//     ISR followers not caught up; a fetch proposes adding a follower whose
//     LEO reaches HW and the start of the current epoch, if
//     Options.Eligible says its broker (at the fetch's broker epoch) may
//     join (KIP-841). UpdateISR (a newer partition epoch from the image)
//     commits, ISRRejected reverts to the committed ISR.
//   - acks=all: refused before the append while the committed ISR is below
//     min.insync.replicas (ErrNotEnoughReplicas); WaitReplicated ends when HW
//     covers the record (ErrNotEnoughReplicasAfterAppend if the maximal ISR
//     is then below min.insync.replicas), or with ErrNotLeader when the
//     leader epoch changes.
//   - ReadForFollower checks the current leader epoch, that the fetcher is a
//     replica, and divergence: (e, o) = the leader's end offset for the
//     follower's last fetched epoch; when e is below that epoch or o below
//     the fetch offset the answer is DivergingEpoch (e, o) and the
//     follower's LEO is not updated. Records go up to LEO; HW and log start
//     are sampled before the read.
//
// # Follower rules
//
// AppendAsFollower appends whole batches as sent (CRC checked, offsets
// kept, a partial trailing batch dropped) and records their producer state
// without the sequence check. Its HW is min(leader HW, LEO), never below
// its log start; its log start rises to the leader's, at most to its HW,
// deleting the segments below it (UpdateFollowerLogStart). After a DivergingEpoch (Le, Lo) it truncates by
// AbstractFetcherThread.getOffsetTruncationState (truncationOffset), and
// RestartAt empties it at the leader's log start. Any truncation drops the
// producer snapshots above the point, rebuilds the producer state at once
// (a retry of a truncated batch is then appended again, not a duplicate),
// and clamps HW; a snapshot captured before a truncation and written after
// it is discarded.
//
// The HW is not checkpointed: after a restart it starts at the log start
// until the followers fetch (or the leader's next HW reaches a follower).
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
// newest snapshot at or below LEO, deleting those above LEO (a truncation,
// or power loss before the log's tail was durable; durably, or one could
// come back once the log grows past it with other batches) and corrupt
// ones, falls back to the log start without one, and replays batch headers
// from there to LEO (and the markers' values, for their coordinator epoch). Snapshot files go through the log's filesystem
// (segment.Log.FS), so on a memory filesystem they crash with the log. A
// truncation made through the log directly is
// reconciled only by the next Open; the follower's truncations reload the
// state at once (see Follower rules).
//
// Snapshot layout, version 2 (version 1, still read, lacks the
// coordinator epoch), big-endian:
//
//	0   version        u16  2
//	2   crc            u32  CRC-32C of every byte after this field
//	6   offset         i64  state covers every batch below this offset
//	14  producer count u32
//	18  producers, in id order:
//	      producer id i64, epoch i16, coordinator epoch i32 (of its
//	      newest marker, -1 none), batch count u8 (1..5), then per batch,
//	      oldest first: first seq i32, last seq i32, first offset i64,
//	      last offset i64, max timestamp i64
//
// A marker with a newer epoch than its producer's is kept as a batch entry
// of sequences -1: it fences the older epoch, and the next batch must
// start at sequence 0. A marker whose coordinator epoch is older than the
// newest of its producer's markers here is refused (KIP-98's fencing of a
// deposed transaction coordinator, TRANSACTION_COORDINATOR_FENCED).
//
// # Transactions
//
// A transactional batch opens its producer's transaction in the partition
// (at its first offset) unless one is open; a control batch (a commit or
// abort marker, appended by the leader through AppendMarker on a
// coordinator's WriteTxnMarkers, or replicated) closes it, and an abort is
// recorded as an aborted transaction (producer, first offset, marker
// offset, the LSO after it). The last stable offset is min(HW, first offset
// of the oldest open transaction); Read with ReadCommitted stops there and
// lists the aborted transactions with records in range. Open and every
// follower truncation rebuild the state by scanning every batch header from
// the log start (open transactions may begin anywhere) and reading the
// markers' keys, then rewrite the .txnindex files to match; between them,
// each abort is appended to its segment's index as it is appended. The
// scan makes opening a partition cost a pass over its batch headers. The
// log cleaner (segment) takes the aborted transactions to remove their
// records, and hands back those it left without data (ForgetAborts) before
// it swaps the cleaned segments in: a read_committed consumer told of an
// aborted transaction whose marker is gone would skip its producer's next
// committed records. The .txnindex files are rewritten after the swap.
package replica

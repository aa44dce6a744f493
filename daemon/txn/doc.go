// Package txn is the transaction coordinator (KIP-98): InitProducerId with
// a transactional id, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
// DescribeTransactions and ListTransactions, with the state kept in the
// internal topic __transaction_state, and the markers that end each
// transaction in its partitions sent to their leaders as WriteTxnMarkers.
//
// The logic is a Machine without I/O: requests, ticks, append and marker
// outcomes and replayed records go in; replies, appends, producer-id
// allocations and marker writes come out. Coordinator is the thin shell
// that owns the clock, the waiting requests, the log and the marker
// sender. It has the group coordinator's shape (daemon/group): a
// transactional id lives in the partition Kafka's hash gives it, and that
// partition's leader coordinates it, loading the partition when it
// becomes leader; the coordinator epoch is the partition's leader epoch.
//
// # Files
//
//	machine.go      Machine: events, actions, partitions, ticks, markers
//	requests.go     the APIs
//	records.go      states, __transaction_state records
//	coordinator.go  the shell: clock, waiters, loading, appends, markers
//
// # States
//
//	             AddPartitions/AddOffsets           EndTxn(commit)
//	Empty ─────────────────────────────▶ Ongoing ────────────────▶ PrepareCommit
//	  ▲ ▲                                 │  │ EndTxn(abort),          │ markers written
//	  │ │ InitProducerId                  │  │ timeout, new producer   ▼
//	  │ └────────── CompleteCommit ◀──────┼──┼─────────────────── (CompleteCommit)
//	  │             CompleteAbort  ◀──────┼──┴─▶ PrepareAbort ──────▶ CompleteAbort
//	  │                                   │         markers written
//	  │ transactional.id.expiration.ms    ▼
//	Dead (tombstone) ◀── Empty, CompleteCommit, CompleteAbort
//
// Every transition is a record, appended acks=all; the state changes, and
// the request is answered, once the ISR holds it. EndTxn is answered once
// PrepareCommit or PrepareAbort is stored: the decision is then durable,
// and a coordinator that takes over (loading the partition) writes the
// markers of every prepared transaction again (markers are idempotent for
// the partitions: a second marker for a closed transaction changes
// nothing). A transaction Ongoing past its timeout is aborted with a
// bumped epoch, which fences its producer; so is an ongoing transaction
// whose id is initialised by a new producer, which retries on
// CONCURRENT_TRANSACTIONS until the abort completes. A producer's request
// arriving while its transaction's markers are being written waits for
// them (up to a second) instead of being answered CONCURRENT_TRANSACTIONS
// at once: the next transaction's AddPartitionsToTxn would otherwise cost
// a client retry backoff every time.
//
// # Transaction version 2 (KIP-890 part 2)
//
// A producer that ends its transactions with EndTxn v5 has every end bump
// its epoch: the prepare record carries epoch+1, the markers are written
// with it (so a late batch of the transaction, at the old epoch, is
// fenced by the partition and cannot open a transaction nobody ends), and
// the answer names the epoch of the next transaction. Once the epoch is
// exhausted (32766) the end first takes a new producer id, stored as the
// prepared transaction's next id: the markers carry the old id at epoch
// 32767, and the transaction completes under the new id at epoch 0. A
// retry of an end carries the epoch before the bump (or the previous id
// at 32766) and is answered as the first time; an abort with nothing
// ongoing just bumps the epoch. The coordinator's own aborts (a timeout,
// a new producer's InitProducerId) bump once the same way. Such a producer sends no
// AddPartitionsToTxn or AddOffsetsToTxn: the partition leader (Produce
// v12+) or group coordinator (TxnOffsetCommit v5+) adds the partition
// with a batched AddPartitionsToTxn whose entry is not verify_only
// (Coordinator.AddImplicit), which waits like the producer's own requests
// while the last transaction's markers are written.
//
// # Records
//
// Kafka's own formats (kmsg.TxnMetadataKey, kmsg.TxnMetadataValue version
// 0, or 1 for transaction version 2 with the previous and next producer
// ids and the client's transaction version as tagged fields): key
// (version 0, transactional id), value (producer id, epoch, timeout,
// state code, partitions, last update and start times). A null value is a
// tombstone. The topic is compacted.
package txn

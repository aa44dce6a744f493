package kafka

// AddPartitionsToTxn v0-4: a transactional producer adds the partitions it
// is about to write to its transaction (v0-3); from v4 (KIP-890) brokers
// send batches of transactions, verify_only ones checking that a
// partition was added before they append a transactional batch. Answered
// by the transaction coordinator (daemon/txn) once stored.

func init() {
	register(&api{key: 24, minVersion: 0, maxVersion: 4, serve: serveTxn})
}

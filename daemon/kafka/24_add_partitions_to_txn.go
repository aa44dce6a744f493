package kafka

// AddPartitionsToTxn v0-5: a transactional producer adds the partitions it
// is about to write to its transaction (v0-3); from v4 (KIP-890) brokers
// send batches of transactions, verify_only ones checking that a
// partition was added before they append a transactional batch, the
// others (v5, KIP-890 part 2) adding it for a producer of transaction
// version 2 on its first produce or offset commit. Answered by the
// transaction coordinator (daemon/txn) once stored.

func init() {
	register(&api{key: 24, minVersion: 0, maxVersion: 5, serve: serveTxn})
}

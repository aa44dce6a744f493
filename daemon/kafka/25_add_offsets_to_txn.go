package kafka

// AddOffsetsToTxn v0-4: a transactional producer adds a group's
// __consumer_offsets partition to its transaction before it commits
// offsets with TxnOffsetCommit. Answered by the transaction coordinator.

func init() {
	register(&api{key: 25, minVersion: 0, maxVersion: 4, serve: serveTxn})
}

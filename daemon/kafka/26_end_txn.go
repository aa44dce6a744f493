package kafka

// EndTxn v0-5: commit or abort. Answered once the coordinator has stored
// its decision (PrepareCommit or PrepareAbort); the markers follow. v5
// (KIP-890 part 2, transaction version 2) bumps the producer epoch at
// every end and answers with the producer id and epoch of the next
// transaction (daemon/txn).

func init() {
	register(&api{key: 26, minVersion: 0, maxVersion: 5, serve: serveTxn})
}

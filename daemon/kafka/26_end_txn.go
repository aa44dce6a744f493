package kafka

// EndTxn v0-4: commit or abort. Answered once the coordinator has stored
// its decision (PrepareCommit or PrepareAbort); the markers follow. v5
// (KIP-890 part 2, an epoch bump per transaction) is not served.

func init() {
	register(&api{key: 26, minVersion: 0, maxVersion: 4, serve: serveTxn})
}

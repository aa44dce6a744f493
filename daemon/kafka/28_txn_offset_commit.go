package kafka

// TxnOffsetCommit v0-4: a transactional producer commits a group's offsets
// inside its transaction. The group coordinator stores them as a
// transactional batch of the producer in __consumer_offsets and makes them
// the group's offsets only when the commit marker arrives
// (WriteTxnMarkers); an abort drops them.

func init() {
	register(&api{key: 28, minVersion: 0, maxVersion: 4, serve: serveGroup})
}

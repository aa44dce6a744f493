package kafka

// Heartbeat v0-4: a member keeps its session; REBALANCE_IN_PROGRESS tells
// it to rejoin.

func init() {
	register(&api{key: 12, minVersion: 0, maxVersion: 4, serve: serveGroup})
}

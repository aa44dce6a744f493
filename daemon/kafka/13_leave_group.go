package kafka

// LeaveGroup v0-5: one member by id (v0-2) or a batch by member or
// instance id (v3+, KIP-345), each with its own error code.

func init() {
	register(&api{key: 13, minVersion: 0, maxVersion: 5, serve: serveGroup})
}

package kafka

// SyncGroup v0-5: members fetch their assignment for a generation; the
// leader's request carries every member's. v5+ names the protocol type and
// protocol, checked against the group's.

func init() {
	register(&api{key: 14, minVersion: 0, maxVersion: 5, serve: serveGroup})
}

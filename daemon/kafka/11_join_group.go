package kafka

// JoinGroup v0-9: a member joins a classic group and waits until the
// rebalance completes; the leader gets every member's metadata. v4+ first
// answers a member without an id MEMBER_ID_REQUIRED with its id (KIP-394);
// v5+ carries the static instance id (KIP-345). The coordinator
// (daemon/group) has the rules.

func init() {
	register(&api{key: 11, minVersion: 0, maxVersion: 9, serve: serveGroup})
}

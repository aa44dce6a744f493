package kafka

// OffsetDelete v0: delete a group's committed offsets of some partitions;
// a consumer group with members keeps those of topics it subscribes to
// (GROUP_SUBSCRIBED_TO_TOPIC).

func init() {
	register(&api{key: 47, minVersion: 0, maxVersion: 0, serve: serveGroup})
}

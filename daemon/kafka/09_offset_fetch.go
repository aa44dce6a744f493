package kafka

// OffsetFetch v0-9: committed offsets of a group (v0-7; v0, which old
// Kafka read from ZooKeeper, reads the same as v1) or of several
// groups at once (v8+), of the listed partitions or (null topics, v2+) of
// all. A partition without a committed offset, or a group the coordinator
// does not know, reads as offset -1 without error, as in Kafka.

func init() {
	register(&api{key: 9, minVersion: 0, maxVersion: 9, serve: serveGroup})
}

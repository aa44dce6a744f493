package kafka

// OffsetFetch v1-9: committed offsets of a group (v1-7) or of several
// groups at once (v8+), of the listed partitions or (null topics, v2+) of
// all. A partition without a committed offset, or a group the coordinator
// does not know, reads as offset -1 without error, as in Kafka.

func init() {
	register(&api{key: 9, minVersion: 1, maxVersion: 9, serve: serveGroup})
}

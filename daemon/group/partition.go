package group

import "unicode/utf16"

// OffsetsTopic is the internal topic holding committed offsets and group
// metadata.
const OffsetsTopic = "__consumer_offsets"

// PartitionFor is the __consumer_offsets partition that holds group id's
// records, out of n: Kafka's abs(groupId.hashCode) % n, with Java's
// String.hashCode over UTF-16 code units, so that Kafka tools reading the
// topic find a group where Kafka would put it.
func PartitionFor(groupID string, n int32) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(groupID)) {
		h = 31*h + int32(u)
	}
	return (h & 0x7fffffff) % n
}

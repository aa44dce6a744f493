// Package ids holds the typed identifiers that cross package boundaries in
// the replication path (replica, the replica manager, the Kafka layer), so
// that an offset, a leader epoch and a broker id cannot be swapped for one
// another silently. The metadata quorum still stores plain int32/int64; the
// replica manager converts at that boundary.
package ids

// NodeID is a broker's node.id. NoNode (-1) means none (a leaderless
// partition, a consumer's fetch).
type NodeID int32

// NoNode is the id of no broker.
const NoNode NodeID = -1

// Epoch is a partition's leader epoch; NoEpoch (-1) means unknown or
// unchecked, as on the wire.
type Epoch int32

// NoEpoch is the wire's "no epoch".
const NoEpoch Epoch = -1

// Offset is a position in a partition's log.
type Offset int64

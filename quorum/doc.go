// Package quorum keeps the cluster metadata: a log of KRaft-style records
// (the partition __cluster_metadata-0, a segment.Log) and the immutable
// Image they build, which brokers read.
//
// # Shape
//
// The logic is pure and does no I/O:
//
//	request --planner--> records        (plan.go: validate, choose ids and placement)
//	image + records --apply--> image    (image.go: copy-on-write, one batch at a time;
//	                                     topics in immutable tries, pmap.go)
//
// The Controller (controller.go) is the thin shell: under one lock it plans,
// encodes the records of one change as one record batch, appends it with
// leader epoch 0, flushes (the change is committed and durable), swaps the
// image and then tells the OnChange listeners. Open replays the whole log
// through the same decode and apply path, so a restart rebuilds the same image.
//
// # Records
//
// Each record's key is two bytes, the record type and its version (all 0
// today); its value is the body, encoded as in codec.go (big-endian
// integers, uvarint-prefixed strings and int32 arrays).
//
//	type 1 ClusterID       cluster id        written once, on the first start
//	type 2 RegisterBroker  id, host, port, rack, incarnation
//	type 3 Topic           name, topic id (16 random bytes), internal flag
//	type 4 Partition       topic id, partition, replicas, ISR, leader,
//	                       leader epoch, partition epoch
//	type 5 RemoveTopic     topic id (the topic's configs go with it)
//	type 6 Config          topic name, key, value or delete
//	type 7 ProducerIDs     end of the newest reserved block of producer ids
//
// A change is one batch: CreateTopic writes Topic, its Partition records and
// its Config records together. Producer ids are served from memory within
// the block whose end is durable, so no id is handed out twice, even across
// a crash. A decoder meeting an unknown type or a newer version fails
// (ErrCorruptMetadata) rather than guess.
//
// # Topic configs
//
// topicconfig.go is the registry of supported topic configs (type, range,
// built-in default), the effective value given the broker's TopicDefaults,
// and the mapping to segment.Config.
//
// # Towards a raft quorum
//
// Today one node is the only voter: it is the controller, commits by
// flushing its own log, and ControllerID is its node id. With 3 or 5 voters
// on go.etcd.io/raft/v3 the planner and apply stay as they are; the shell
// changes: the active controller proposes a change's batch to raft instead of
// appending it, raft's entries are stored in this same log, and every node
// (voter or broker) applies a batch once raft reports it committed, so
// ControllerID comes from raft's leader. A change method then returns after
// the commit, not after the local flush. Fencing, broker heartbeats and
// PartitionChange records (ISR changes checked against the partition epoch)
// arrive with replication, as new record types. Snapshots of the image
// will let the log be trimmed; until then the metadata log must keep every
// record (MetadataLogConfig turns retention off).
package quorum

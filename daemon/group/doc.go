// Package group is the consumer-group coordinator: Kafka's classic group
// protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and committed
// offsets (OffsetCommit, OffsetFetch, OffsetDelete), plus DescribeGroups,
// ListGroups and DeleteGroups, with the state kept in the internal topic
// __consumer_offsets.
//
// The logic is a Machine without I/O: requests, ticks, append outcomes and
// replayed records go in; replies and appends come out. Coordinator is the
// thin shell that owns the clock, the waiting requests and the log.
//
// # Files
//
//	machine.go      Machine: events, actions, partitions, ticks
//	group.go        group and member state, protocol selection
//	join.go         JoinGroup, rebalances, member removal
//	membership.go   SyncGroup, Heartbeat, LeaveGroup
//	offsets.go      OffsetCommit, OffsetFetch, OffsetDelete, retention
//	admin.go        DescribeGroups, ListGroups, DeleteGroups
//	records.go      __consumer_offsets records and their replay
//	partition.go    group -> partition (Kafka's hash)
//	snapshot.go     committed offsets of every group, for the lag metrics
//	coordinator.go  the shell: clock, waiters, loading, appends
//	load.go         replay of a __consumer_offsets partition into the machine
//
// # Group states
//
//	          join                    all joined / timeout     leader's sync stored
//	Empty ──────────▶ PreparingRebalance ──────────▶ CompletingRebalance ──────────▶ Stable
//	  ▲ ▲                  ▲   │ nobody left                 │                         │
//	  │ └──────────────────┼───┘                             │ join, leave, expiry     │
//	  │                    └─────────────────────────────────┴─────────────────────────┘
//	  │ DeleteGroups, or offsets expired
//	  ▼
//	Dead
//
// A group in PreparingRebalance waits until every member has rejoined (and
// no id handed out with MEMBER_ID_REQUIRED is outstanding) or the largest
// rebalance timeout passes; dynamic members that did not rejoin are
// removed, static ones (group.instance.id) stay. A group that was Empty
// waits group.initial.rebalance.delay.ms instead, extended while members
// keep arriving. Members expire after their session timeout without a
// heartbeat, except while they wait for a JoinGroup or SyncGroup answer.
// In CompletingRebalance, members that have not sent SyncGroup by the
// rebalance timeout are removed.
//
// # Records
//
// Kafka's own formats (kmsg.OffsetCommitKey etc.), so that tools reading
// __consumer_offsets understand them. Each record's key starts with its
// version:
//
//	key v1 OffsetCommitKey (group, topic, partition)  value v3 OffsetCommitValue
//	key v2 GroupMetadataKey (group)                   value v3 GroupMetadataValue
//
// A null value is a tombstone: the offset or the group was deleted. The
// group record is written when a generation's assignment is stored (the
// leader's SyncGroup, answered after the append), when a group becomes
// Empty, and when a static member is replaced. Offsets are answered after
// their append: an acknowledged commit is in the page cache and survives a
// process crash. On start (and when this broker becomes a partition's
// leader) the partition is replayed from its log start; last record wins.
// Restored members keep their generation and assignment and get a session
// timeout from the end of the replay to heartbeat.
//
// The topic is created with cleanup.policy=compact: the log cleaner keeps
// the latest record of each key (and a tombstone for delete.retention.ms),
// so the replay is bounded by the live groups and offsets, not by the
// history of commits.
package group

// Package replicas is the replica manager: it turns the metadata image
// into the replicas this broker hosts and their roles, and runs the
// replication around them (Kafka's ReplicaManager with its fetcher
// threads and AlterPartitionManager).
//
// Each committed image change is applied for the topics it touched
// (Image.TopicsChanged): their replicas hosted here are opened,
// reconfigured or deleted, and each gets the role the image assigns
// (roles.go): leader (replica.Partition.BecomeLeader) when the leader
// epoch is new, follower of another broker (BecomeFollower, and the
// partition moves to that broker's fetcher), leaderless (BecomeFollower of
// no node, nothing fetched), or, at the same leader epoch with a newer
// partition epoch, the leader adopts the committed ISR (UpdateISR) or, when
// a reassignment changed them, the replicas too (BecomeLeader at the same
// epoch), so that it serves the adding replicas' fetches. An adding replica
// is opened empty and follows the leader like any follower; a replica a
// completed reassignment removed is stopped and its log deleted, as a
// deleted topic's.
// State older than the partition epoch acted on is ignored.
//
// A fetcher (fetcher.go) is one goroutine per leader this broker follows,
// carrying all partitions it follows from it: sessionless Fetch v15 as a
// replica over one connection to the leader's Kafka listener, topics by id,
// with this broker's epoch from its registration in ReplicaState (KIP-903:
// the leader proposes it for the ISR at that epoch, and the controller
// refuses a proposal made from a previous incarnation's fetches), each
// partition at its LEO with its last fetched epoch; it truncates on a
// DivergingEpoch, appends the batches as sent, follows the leader's HW,
// and on OFFSET_OUT_OF_RANGE asks the leader's offsets (ListOffsets) to
// truncate or restart the log.
//
// The leaders' ISR proposals go to the controller as AlterPartition
// (isr.go). The manager's Tick drives the logs' and replicas' time-driven
// work, ISR shrinks included.
//
// # Files
//
//	manager.go  Manager: hosted replicas, image changes, ticks, close
//	roles.go    role transitions, fetcher assignment, ISR eligibility
//	fetcher.go  one fetcher per leader: Fetch, truncation, out of range
//	conn.go     a follower's connection to a leader (Kafka framing; TLS
//	            through Options.Dial, SASL with Options.SASL)
//	isr.go      ISR proposals to the controller
//	metrics.go  replication metrics
package replicas

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
// The Controller (controller.go) is the thin shell. With one voter (Open)
// it plans under one lock, encodes the records of one change as one record
// batch, appends it with leader epoch 0, flushes (the change is committed
// and durable), swaps the image and then tells the OnChange listeners. Open
// replays the whole log through the same decode and apply path, so a
// restart rebuilds the same image. With several voters the same plan,
// encode and apply steps run on a raft node (below).
//
// # Records
//
// Each record's key is two bytes, the record type and its version (all 0
// today); its value is the body, encoded as in codec.go (big-endian
// integers, uvarint-prefixed strings and int32 arrays).
//
//	type 1 ClusterID       cluster id        written once, on the first start
//	type 2 RegisterBroker  id, host, port, rack, incarnation: a new
//	                       incarnation starts fenced at broker epoch = this
//	                       record's offset; the same one amends the endpoint
//	type 3 Topic           name, topic id (16 random bytes), internal flag
//	type 4 Partition       topic id, partition, replicas, ISR, leader,
//	                       leader epoch, partition epoch; version 1 adds
//	                       the removing and adding replicas of a
//	                       reassignment in progress (written only then)
//	type 5 RemoveTopic     topic id (the topic's configs go with it)
//	type 6 Config          topic name, key, value or delete
//	type 7 ProducerIDs     end of the newest reserved block of producer ids
//	type 8 NoOp            nothing: raft's empty entry, so that it takes an
//	                       offset like any other entry
//	type 9 BrokerState     broker id, broker epoch, fenced, in controlled
//	                       shutdown: the whole state of a registration
//	                       (fencing, unfencing, controlled shutdown; a
//	                       snapshot restores the epoch with it)
//	type 10 PartitionChange topic id, partition, leader (-2: unchanged),
//	                       ISR (a presence flag, then the array): changed
//	                       fields only, as KRaft's PartitionChangeRecord; a
//	                       leader bumps the leader epoch, every change the
//	                       partition epoch; version 1 (written only when it
//	                       carries them) adds replicas, removing and adding
//	                       replicas, each behind a presence flag
//	type 40 ScramCredential user, mechanism (1 SCRAM-SHA-256, 2 SCRAM-SHA-512),
//	                       salt, StoredKey, ServerKey, iterations (scram.go)
//	type 41 RemoveScramCredential user, mechanism
//	type 42 ACL            resource type, name, pattern type, principal, host,
//	                       operation, permission (acl.go)
//	type 43 RemoveACL      the same fields
//	type 44 ClientQuota    entity (user, client id: each a presence flag, a
//	                       default flag and a name), quota key, value
//	                       (float64 bits), remove (quota.go)
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
// # The cluster: raft quorum and ISR replication (the design being built)
//
// Voters are the nodes of cluster.voters (id@host:port of their cluster
// listener, cluster.listen); 3 or 5 in production, every voter also a
// broker (KRaft's combined mode). A node not among them is an observer, a
// broker only (observer.go). No voter list means one voter, this node:
// the same code, a quorum of one. The voter set is static: it comes from the
// config, never from conf-change entries, so raft's ConfState is built from
// cluster.voters on every start (and checked against the snapshot's).
//
// Files (quorum/):
//
//	raftlog.go    raft.Storage over the metadata segment.Log: raft entry i is
//	              one record batch, its raft term the batch's partition leader
//	              epoch; an entry's index maps to its batch's offsets through an
//	              in-memory table built from batch headers at open. raft's empty
//	              entries are stored as a batch of one NoOp record, so offsets
//	              (and the image's Offset, used as broker epoch) are the same on
//	              every node. The HardState file (raft-hardstate) and image
//	              snapshots (<index>-<term>.snapshot, in snapshot.go: the image's
//	              offset and the records that rebuild it) sit beside the log
//	              and are replaced atomically (vfs.WriteFile). Save writes a
//	              snapshot, then entries (flushed), then the HardState, so a
//	              crash leaves the HardState behind the log, never ahead; open
//	              completes a snapshot install a crash cut short. The log is
//	              trimmed behind a snapshot, keeping some entries for slow
//	              followers. An existing single-node log (batches of leader
//	              epoch 0, no HardState file) opens as committed entries of
//	              term 1, only with this node as the only voter.
//	node.go       the raft node loop on raft.RawNode (PreVote, CheckQuorum):
//	              Ready -> save snapshot, entries, then HardState (durable) ->
//	              send messages -> install the snapshot's image, apply
//	              committed entries to the image -> Advance. Ticks, inbound
//	              messages, proposals and the transport's reports (peer
//	              unreachable, snapshot sent or not) come in on one goroutine
//	              in production, from the simulator in tests.
//	transport.go  the cluster listener: length-prefixed frames over TCP; raft
//	              message streams (one-way, per peer, bounded queue that drops
//	              when full and reports the peer unreachable, reconnecting with
//	              backoff) and Kafka-protocol request/response calls for the
//	              controller APIs (kmsg: CreateTopics, DeleteTopics,
//	              CreatePartitions, IncrementalAlterConfigs,
//	              AllocateProducerIds, BrokerRegistration, BrokerHeartbeat,
//	              AlterPartition, ElectLeaders, AlterPartitionReassignments),
//	              as KRaft brokers call their
//	              controller.
//	              Wire: each connection opens with a kind byte and the
//	              dialer's node id (int32); 'R' then u32-length-prefixed
//	              protobuf raftpb.Messages (From the dialer, To this node,
//	              at most 64 MiB), 'K' then Kafka request frames (header
//	              v1/v2, client id riffle-node-<id>) answered one at a time,
//	              'O' then observers' fetches (index and cluster id; the
//	              answer: the leader's id and a raftpb.Message of committed
//	              entries or the snapshot) answered one at a time.
//	              Raft ids are node ids + 1 (RaftID): raft reserves 0.
//	              With ServerTLS and a TLS Dial (cluster.tls) every
//	              connection is mutual TLS around the same frames.
//	active.go     the controller's pure core on the node: plans on the
//	              leader, proposes, applies committed entries (an empty raft
//	              entry takes one offset, as its NoOp record does). Every
//	              snapshotEvery applied entries (DefaultRaftSnapshotEvery) it
//	              writes a snapshot of the applied image and the log is
//	              trimmed behind it; a snapshot from the leader replaces the
//	              image; a restart starts from the newest snapshot and raft
//	              replays the committed entries after it. A cluster leader
//	              tracks broker sessions (reset when it is elected; a
//	              broker registered later gets one when first seen), touches
//	              them on heartbeats, and fences one expired broker per
//	              pump when idle; with rebalanceEvery set it runs the
//	              automatic leader rebalance that often, when idle.
//	forward.go    changes as Kafka requests and back, both sides, and the
//	              error codes between voters. The controller's answer to a
//	              change carries the offset of the image it left (a tagged
//	              field); the forwarding node returns once its own image is
//	              there, so every Client method returns with its change
//	              applied locally.
//	observer.go   a broker-only node (KRaft's observer): no raft node, no
//	              controller. One fetch at a time from the leader (any
//	              voter, round-robin, while none is known) for the entries
//	              after its applied index; a voter answers from its raft
//	              log up to its durable commit index, or with its snapshot
//	              when the index is before its log, holding an empty fetch
//	              until its next applied image (at most 500 ms), and
//	              refuses an observer of another cluster id (so none
//	              stores another cluster's entries). The observer saves
//	              what it gets through the same raft log (snapshot, entries,
//	              then a HardState committing them), applies it with the
//	              same core, snapshots and trims as a voter does, restarts
//	              from its own copy, and forwards changes as a follower
//	              voter does (to the leader the last answer named). The
//	              leader lists the observers that fetched from it within
//	              the session timeout (DescribeQuorum's Observers).
//	raftcontroller.go  the node's goroutine, forwarding, HandleRequest,
//	              ReportUnreachable and ReportSnapshot (the transport's
//	              OnUnreachable and OnSnapshotStatus; they never block).
//	controller.go the shell. Brokers use it through two interfaces: a Reader
//	              (Image, OnChange: committed images in order) and a Client
//	              (the change methods). On the raft leader (the active
//	              controller) a change is planned, encoded as one batch and
//	              proposed; the method returns once the entry is applied.
//	              Changes are pipelined, as Kafka's controller does: a new
//	              leader plans only once applied == its last index and an
//	              entry of its term is committed; from then on it plans each
//	              change against the speculative image (the applied one
//	              with every entry in flight applied; never published) and
//	              proposes it at once. Only the leader appends in its term,
//	              so every committed batch was planned against exactly the
//	              image before it; apply failing on a committed batch is
//	              corruption (and an entry applying at another offset than
//	              planned, an assertion). The changes waiting on the node's
//	              goroutine are proposed together: one Ready, one fsync, one
//	              append message per follower. A planning error ends its
//	              own change only. A change of no records (producer ids
//	              from the reserved block, a heartbeat that changes
//	              nothing) is answered when the newest entry in flight
//	              commits, as it may rest on it (ids from a block being
//	              reserved). Losing leadership ends the speculation: the
//	              waiting changes fail with ErrNotController, those in
//	              flight wait for their entries; a proposal whose index is
//	              applied with another term fails with ErrNotController,
//	              with every change in flight after it, and the caller
//	              retries; a timeout is ambiguous (REQUEST_TIMED_OUT).
//	              On any other node the change is forwarded to the leader
//	              over the transport (NOT_CONTROLLER when none is known).
//	client.go     the Reader and Client interfaces (Metadata: both).
//	cluster.go    OpenCluster: a voter's raft log, cluster listener and
//	              node, or an observer's raft log, dialing transport and
//	              fetch loop, wired; RegisterBroker (a voter registers through the
//	              active controller, forwarded as BrokerRegistration with its
//	              image's cluster id, INCONSISTENT_CLUSTER_ID when the
//	              quorum's differs); Heartbeat (run here on the leader,
//	              else forwarded as BrokerHeartbeat); Quorum, the view
//	              DescribeQuorum reports.
//	brokers.go    registration (incarnation id; broker epoch = the offset of its
//	              RegisterBroker record), heartbeats (every 2 s by default),
//	              fencing after the session timeout (9 s by default; both in
//	              ClusterOptions) on the controller's clock (sessions: in
//	              memory, time passed in), unfencing once caught up,
//	              controlled shutdown.
//	election.go   leader election from the ISR when a broker is fenced or
//	              shuts down, of leaderless partitions on unfence, unclean
//	              when the topic allows it, ElectLeaders (preferred and
//	              unclean, as KRaft's ReplicationControlManager), the
//	              automatic rebalance (Kafka's per-broker 10% imbalance
//	              rule); the AlterPartition checks. The ISR never becomes
//	              empty.
//	reassign.go   partition reassignment (KIP-455): start, change and
//	              cancel (AlterPartitionReassignments); the AlterPartition
//	              that brings the last adding replica into the ISR completes
//	              it (buildChange, KRaft's PartitionChangeBuilder), moving
//	              leadership when the leader is removed (NEW_LEADER_ELECTED
//	              to the sender).
//	placement.go  replicas over the live brokers, leaders round-robin from a
//	              random start, racks alternating (StripedReplicaPlacer).
//	              All planner logic: pure, script-tested (testdata/brokers-*).
//
// Replication (replica/, daemon/replicas) builds on the image: a broker
// leads a partition when the image names it leader at a leader epoch;
// followers fetch from the leader with Fetch (replica id, current leader
// epoch, last fetched epoch) and truncate on DivergingEpoch; the leader
// proposes ISR changes with AlterPartition (leader epoch, partition epoch,
// broker epochs of the new ISR) through the Client, and the controller
// checks them against the image (KIP-497, KIP-841) and commits a
// PartitionChange record. replica never calls quorum: the replica manager
// carries its ISR proposals to the Client and image changes back to it.
package quorum

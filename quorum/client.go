package quorum

// Reader is how a broker reads the cluster metadata: the committed image
// and each change to it, in commit order.
type Reader interface {
	// Image is the latest committed image; never nil, never modified.
	Image() *Image
	// OnChange registers fn to be called with each committed image after
	// the one it replaces, in order, from one goroutine at a time.
	OnChange(fn func(prev, next *Image))
}

// Client is how a broker changes the cluster metadata. Each method returns
// once the change is committed and applied to this node's image, or fails:
// with ErrNotController when no active controller could take it (retry),
// or with a planning error (ErrTopicExists, ...) saying why not.
type Client interface {
	CreateTopic(req CreateTopic, defaultPartitions int32, defaultRF int16, validateOnly bool) (*Topic, error)
	DeleteTopic(name string) error
	CreatePartitions(name string, count int32, validateOnly bool) error
	AlterTopicConfigs(name string, set map[string]*string, validateOnly bool) error
	AlterClusterConfigs(set map[string]*string, validateOnly bool) error
	AllocateProducerIDs(n int64) (int64, error)
	// AlterPartition commits the ISR a partition's leader proposes, checked
	// in Kafka's order (alterPartition); its errors wrap the Kafka error
	// they are (errors.Is: kerr.StaleBrokerEpoch, kerr.NotController,
	// kerr.FencedLeaderEpoch, kerr.InvalidUpdateVersion,
	// kerr.IneligibleReplica, kerr.InvalidRequest,
	// kerr.UnknownTopicOrPartition, ...). kerr.NewLeaderElected is no
	// refusal: the ISR was committed, completing a reassignment that moved
	// the leadership away from the sender.
	AlterPartition(req AlterPartition) error
	// ElectLeaders elects leaders (electionType ElectPreferred or
	// ElectUnclean) of the partitions named, or of every partition when
	// partitions is nil, as one change, and returns each partition's
	// outcome (ElectionResult); its error is for the whole request.
	ElectLeaders(electionType int8, partitions []TopicPartition) ([]ElectionResult, error)
	// AlterPartitionReassignments starts, changes (Replicas set) or
	// cancels (Replicas nil) the partitions' reassignments (KIP-455) as
	// one change and returns each partition's outcome
	// (ReassignmentResult); its error is for the whole request.
	AlterPartitionReassignments(reqs []Reassignment) ([]ReassignmentResult, error)
	// AlterScramCredentials sets and removes SCRAM credentials, all or
	// none (scram.go).
	AlterScramCredentials(changes []ScramChange) error
	// CreateACLs and DeleteACLs add and remove ACLs, all or none (acl.go).
	CreateACLs(acls []ACL) error
	DeleteACLs(acls []ACL) error
	// AlterClientQuotas sets and removes client quotas, all or none
	// (quota.go).
	AlterClientQuotas(changes []QuotaChange) error
}

// Metadata is both: what the Kafka layer and the group coordinator hold.
type Metadata interface {
	Reader
	Client
}

var _ Metadata = (*Controller)(nil)

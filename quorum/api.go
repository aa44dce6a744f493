package quorum

// CONTRACT SKELETON (written by the lead so other packages compile). The
// quorum implementer replaces the bodies, may split files and add, but keeps
// these exported names and signatures.

import (
	"errors"
	"log/slog"

	"github.com/riffle/riffle/segment"
)

var (
	ErrTopicExists              = errors.New("topic already exists")       // TOPIC_ALREADY_EXISTS
	ErrUnknownTopic             = errors.New("unknown topic")              // UNKNOWN_TOPIC_OR_PARTITION
	ErrInvalidTopic             = errors.New("invalid topic name")         // INVALID_TOPIC_EXCEPTION
	ErrInvalidPartitions        = errors.New("invalid partition count")    // INVALID_PARTITIONS
	ErrInvalidReplicationFactor = errors.New("invalid replication factor") // INVALID_REPLICATION_FACTOR
	ErrInvalidConfig            = errors.New("invalid config")             // INVALID_CONFIG
	ErrUnknownConfig            = errors.New("unknown config")             // INVALID_CONFIG too
)

// Broker is a registered broker's endpoint.
type Broker struct {
	ID   int32
	Host string
	Port int32
	Rack string
}

// Partition is a partition's placement and leadership.
type Partition struct {
	ID             int32
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
}

// Topic is one topic in the image. Configs holds only the topic's overrides.
type Topic struct {
	Name       string
	ID         [16]byte
	Partitions []Partition
	Configs    map[string]string
	Internal   bool
}

// Image is an immutable view of the cluster metadata at one log offset.
// Never modify it; the controller swaps in a new one on every change.
type Image struct {
	Offset       int64 // metadata log offset this image reflects
	ClusterID    string
	ControllerID int32
	Brokers      []Broker
	Topics       map[string]*Topic
	TopicsByID   map[[16]byte]*Topic
}

// Options configure the controller.
type Options struct {
	NodeID int32
	Broker Broker // this node's advertised endpoint
	// ValidateTopicConfig checks one topic config override; nil accepts all.
	ValidateTopicConfig func(name, value string) error
	Logger              *slog.Logger
}

// CreateTopic asks for a new topic.
type CreateTopic struct {
	Name              string
	Partitions        int32 // -1: default
	ReplicationFactor int16 // -1: default
	Configs           map[string]string
}

// Controller owns the metadata log and the image (a quorum of one voter
// until replication lands). Safe for concurrent use.
type Controller struct{}

// Open replays the metadata log (a segment.Log, __cluster_metadata-0) into an
// image and registers this broker.
func Open(log *segment.Log, opts Options) (*Controller, error) { panic("unimplemented") }

// Image returns the current image.
func (c *Controller) Image() *Image { panic("unimplemented") }

// OnChange registers fn, called after each committed change with the previous
// and the new image, in commit order.
func (c *Controller) OnChange(fn func(prev, next *Image)) { panic("unimplemented") }

// CreateTopic validates and commits a new topic; validateOnly commits nothing.
func (c *Controller) CreateTopic(req CreateTopic, defaultPartitions int32, defaultRF int16, validateOnly bool) (*Topic, error) {
	panic("unimplemented")
}

// DeleteTopic removes a topic.
func (c *Controller) DeleteTopic(name string) error { panic("unimplemented") }

// CreatePartitions raises a topic's partition count to count.
func (c *Controller) CreatePartitions(name string, count int32, validateOnly bool) error {
	panic("unimplemented")
}

// AlterTopicConfigs sets (value non-nil) or removes (nil) overrides.
func (c *Controller) AlterTopicConfigs(name string, set map[string]*string, validateOnly bool) error {
	panic("unimplemented")
}

// AllocateProducerIDs reserves n producer ids, never handed out again even
// across restarts, and returns the first.
func (c *Controller) AllocateProducerIDs(n int64) (int64, error) { panic("unimplemented") }

// Close stops the controller.
func (c *Controller) Close() error { panic("unimplemented") }

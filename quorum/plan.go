package quorum

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// MetadataTopic names the metadata log's partition directory
// (__cluster_metadata-0); no topic may take or collide with the name.
const MetadataTopic = "__cluster_metadata"

const (
	topicNameMax = 249 // Kafka's limit: leaves room for "-<partition>" and suffixes in a 255-byte file name
	// producerIDBlock is how many producer ids one ProducerIDs record
	// reserves; the controller serves them from memory.
	producerIDBlock = 1000
	// DefaultTopicPartitionsMax is Options.TopicPartitionsMax when zero.
	DefaultTopicPartitionsMax = 10000
)

// CreateTopic asks for a new topic.
type CreateTopic struct {
	Name              string
	Partitions        int32 // -1: default
	ReplicationFactor int16 // -1: default
	Configs           map[string]string
	// Internal marks the daemon's own topics (__consumer_offsets); the Kafka
	// layer never sets it for a client's request.
	Internal bool
}

// planner turns requests into the records that carry them out, checked
// against the current image. It does no I/O and changes nothing: the shell
// (Controller) appends the records and applies them. Random bytes (topic
// ids, the cluster id, incarnations) come from random.
type planner struct {
	topicPartitionsMax int32
	validateConfig     func(name, value string) error // nil accepts all
	random             func(b []byte)
}

// startup returns the records a starting node writes: the cluster id on the
// first start, and self's registration when the image lacks or differs from it.
func (p *planner) startup(im *Image, self Broker) []record {
	var recs []record
	if im.ClusterID == "" {
		var id [16]byte
		p.random(id[:])
		recs = append(recs, clusterIDRecord{ClusterID: base64.RawURLEncoding.EncodeToString(id[:])})
	}
	if cur, ok := im.Broker(self.ID); !ok || !cur.sameEndpoint(self) {
		r := registerBrokerRecord{ID: self.ID, Host: self.Host, Port: self.Port, Rack: self.Rack}
		p.random(r.Incarnation[:])
		recs = append(recs, r)
	}
	return recs
}

// validateTopicName checks name like Kafka does and refuses names that
// collide with an existing topic (or the metadata topic) once '.' and '_'
// are treated alike, as their metric names would.
func validateTopicName(im *Image, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrInvalidTopic)
	case len(name) > topicNameMax:
		return fmt.Errorf("%w: %q is %d characters, at most %d allowed", ErrInvalidTopic, name, len(name), topicNameMax)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q", ErrInvalidTopic, name)
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q: only ASCII letters, digits, '.', '_' and '-' are allowed", ErrInvalidTopic, name)
		}
	}
	norm := strings.ReplaceAll(name, ".", "_")
	if norm == MetadataTopic {
		return fmt.Errorf("%w: %q is reserved for the metadata log", ErrInvalidTopic, name)
	}
	for other := range im.Topics {
		if strings.ReplaceAll(other, ".", "_") == norm {
			return fmt.Errorf("%w: %q collides with existing topic %q ('.' and '_' collide)", ErrInvalidTopic, name, other)
		}
	}
	return nil
}

// createTopic returns the records that create req.
func (p *planner) createTopic(im *Image, req CreateTopic, defaultPartitions int32, defaultRF int16) ([]record, error) {
	if _, ok := im.Topics[req.Name]; ok {
		return nil, fmt.Errorf("topic %q: %w", req.Name, ErrTopicExists)
	}
	if err := validateTopicName(im, req.Name); err != nil {
		return nil, err
	}
	n, rf := req.Partitions, req.ReplicationFactor
	if n == -1 {
		n = defaultPartitions
	}
	if rf == -1 {
		rf = defaultRF
	}
	if n < 1 || n > p.topicPartitionsMax {
		return nil, fmt.Errorf("topic %q: %w: %d, must be 1 to %d", req.Name, ErrInvalidPartitions, n, p.topicPartitionsMax)
	}
	if err := checkReplicationFactor(im, req.Name, rf); err != nil {
		return nil, err
	}
	id := p.newTopicID(im)
	recs := []record{topicRecord{Name: req.Name, ID: id, Internal: req.Internal}}
	recs = append(recs, assignPartitions(im, id, 0, n, rf)...)
	for _, k := range slices.Sorted(maps.Keys(req.Configs)) {
		if err := p.checkConfig(req.Name, k, req.Configs[k]); err != nil {
			return nil, err
		}
		recs = append(recs, configRecord{Topic: req.Name, Key: k, Value: req.Configs[k]})
	}
	return recs, nil
}

func isConfigError(err error) bool {
	return errors.Is(err, ErrInvalidConfig) || errors.Is(err, ErrUnknownConfig)
}

func checkReplicationFactor(im *Image, topic string, rf int16) error {
	if rf < 1 || int(rf) > len(im.Brokers) {
		return fmt.Errorf("topic %q: %w: %d, must be 1 to the %d registered brokers",
			topic, ErrInvalidReplicationFactor, rf, len(im.Brokers))
	}
	return nil
}

// checkConfig validates one override, wrapping the validator's error with
// ErrInvalidConfig unless it already is ErrInvalidConfig or ErrUnknownConfig.
func (p *planner) checkConfig(topic, key, value string) error {
	if p.validateConfig == nil {
		return nil
	}
	err := p.validateConfig(key, value)
	switch {
	case err == nil:
		return nil
	case isConfigError(err): // the registry's errors name key and value
		return fmt.Errorf("topic %q: %w", topic, err)
	default:
		return fmt.Errorf("topic %q: config %s=%q: %w: %w", topic, key, value, ErrInvalidConfig, err)
	}
}

// newTopicID draws a random topic id that is neither taken nor one of the
// ids Kafka reserves (all zero, and zero but the last bit).
func (p *planner) newTopicID(im *Image) [16]byte {
	for {
		var id [16]byte
		p.random(id[:])
		_, taken := im.TopicsByID[id]
		if !taken && id != ([16]byte{}) && id != ([16]byte{15: 1}) {
			return id
		}
	}
}

// assignPartitions places partitions from..to-1 of a topic round-robin over
// the registered brokers: partition i's replicas start at broker i mod n.
// The first replica leads; every replica is in the ISR.
func assignPartitions(im *Image, topicID [16]byte, from, to int32, rf int16) []record {
	recs := make([]record, 0, to-from)
	for i := from; i < to; i++ {
		replicas := make([]int32, rf)
		for j := range replicas {
			replicas[j] = im.Brokers[(int(i)+j)%len(im.Brokers)].ID
		}
		recs = append(recs, partitionRecord{
			TopicID:   topicID,
			Partition: i,
			Replicas:  replicas,
			ISR:       slices.Clone(replicas),
			Leader:    replicas[0],
		})
	}
	return recs
}

// deleteTopic returns the records that delete the topic (its configs go
// with it).
func (p *planner) deleteTopic(im *Image, name string) ([]record, error) {
	t, ok := im.Topics[name]
	if !ok {
		return nil, fmt.Errorf("topic %q: %w", name, ErrUnknownTopic)
	}
	return []record{removeTopicRecord{TopicID: t.ID}}, nil
}

// createPartitions returns the records that raise the topic's partition
// count to count; new partitions get the replication factor of partition 0.
func (p *planner) createPartitions(im *Image, name string, count int32) ([]record, error) {
	t, ok := im.Topics[name]
	if !ok {
		return nil, fmt.Errorf("topic %q: %w", name, ErrUnknownTopic)
	}
	cur := int32(len(t.Partitions))
	if count <= cur || count > p.topicPartitionsMax {
		return nil, fmt.Errorf("topic %q: %w: %d, must be more than the current %d and at most %d",
			name, ErrInvalidPartitions, count, cur, p.topicPartitionsMax)
	}
	rf := int16(len(t.Partitions[0].Replicas))
	if err := checkReplicationFactor(im, name, rf); err != nil {
		return nil, err
	}
	return assignPartitions(im, t.ID, cur, count, rf), nil
}

// alterTopicConfigs returns the records that set (non-nil) or remove (nil)
// the topic's overrides. Removing an absent override is no change.
func (p *planner) alterTopicConfigs(im *Image, name string, set map[string]*string) ([]record, error) {
	t, ok := im.Topics[name]
	if !ok {
		return nil, fmt.Errorf("topic %q: %w", name, ErrUnknownTopic)
	}
	var recs []record
	for _, k := range slices.Sorted(maps.Keys(set)) {
		v := set[k]
		if v == nil {
			if _, ok := t.Configs[k]; ok {
				recs = append(recs, configRecord{Topic: name, Key: k, Delete: true})
			}
			continue
		}
		if err := p.checkConfig(name, k, *v); err != nil {
			return nil, err
		}
		recs = append(recs, configRecord{Topic: name, Key: k, Value: *v})
	}
	return recs, nil
}

func checkProducerIDCount(n int64) error {
	if n < 1 || n > producerIDBlock {
		return fmt.Errorf("producer ids: allocate %d: count must be 1 to %d", n, producerIDBlock)
	}
	return nil
}

// allocateProducerIDs hands out n ids from next on, returning a record that
// reserves a new block when the reserved ones (below im.ProducerIDsEnd) do
// not suffice. The ids are the caller's once that record is durable.
func allocateProducerIDs(im *Image, next, n int64) (recs []record, first int64, err error) {
	if err := checkProducerIDCount(n); err != nil {
		return nil, 0, err
	}
	if next+n <= im.ProducerIDsEnd {
		return nil, next, nil
	}
	if next > math.MaxInt64-producerIDBlock {
		return nil, 0, fmt.Errorf("producer ids: allocate %d: ids exhausted at %d", n, next)
	}
	return []record{producerIDsRecord{BlockEnd: next + producerIDBlock}}, next, nil
}

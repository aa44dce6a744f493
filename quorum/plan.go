package quorum

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
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
	// DefaultBrokerPartitionsMax is Options.BrokerPartitionsMax when zero:
	// a hosted partition takes two memory maps and their descriptors, and
	// Linux allows 65530 maps per process by default (vm.max_map_count).
	DefaultBrokerPartitionsMax = 20000
	// DefaultTopicsMax is Options.TopicsMax when zero.
	DefaultTopicsMax = 100000
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
	topicPartitionsMax  int32
	brokerPartitionsMax int                            // partition replicas one broker may host
	topicsMax           int                            // topics in the cluster, internal ones included
	validateConfig      func(name, value string) error // nil accepts all
	random              func(b []byte)
}

// startup returns the records a starting node writes: the cluster id on the
// first start, and self's registration when the image lacks or differs from
// it. Self is unfenced at once (a node's own broker has applied the log it
// starts from), so a single node needs no heartbeats to lead.
func (p *planner) startup(im *Image, self Broker) []record {
	var recs []record
	if im.ClusterID == "" {
		var id [16]byte
		p.random(id[:])
		recs = append(recs, clusterIDRecord{ClusterID: base64.RawURLEncoding.EncodeToString(id[:])})
	}
	// The batch goes right after im.Offset.
	return append(recs, p.registerUnfenced(im, self, im.Offset+1+int64(len(recs)))...)
}

// registerUnfenced returns the records that register b when the image
// lacks or differs from it, at offset (its epoch), and unfence it.
func (p *planner) registerUnfenced(im *Image, b Broker, offset int64) []record {
	var recs []record
	cur, ok := im.Broker(b.ID)
	if !ok || !cur.sameEndpoint(b) {
		r := registerBrokerRecord{ID: b.ID, Host: b.Host, Port: b.Port, Rack: b.Rack}
		p.random(r.Incarnation[:])
		cur = Broker{Epoch: offset, Fenced: true}
		recs = append(recs, r)
	}
	if cur.Fenced || cur.InControlledShutdown {
		recs = append(recs, brokerStateRecord{ID: b.ID, Epoch: cur.Epoch})
		recs = append(recs, electLeaderless(im, b.ID)...)
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
	norm := normalTopicName(name)
	if norm == MetadataTopic {
		return fmt.Errorf("%w: %q is reserved for the metadata log", ErrInvalidTopic, name)
	}
	if other, ok := im.topicNames.get(norm); ok {
		return fmt.Errorf("%w: %q collides with existing topic %q ('.' and '_' collide)", ErrInvalidTopic, name, other)
	}
	return nil
}

// createTopic returns the records that create req.
func (p *planner) createTopic(im *Image, req CreateTopic, defaultPartitions int32, defaultRF int16) ([]record, error) {
	if im.Topic(req.Name) != nil {
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
	if im.TopicCount() >= p.topicsMax {
		return nil, fmt.Errorf("topic %q: %w: the cluster has %d topics, the most allowed (topics.max_topics)",
			req.Name, ErrPolicyViolation, im.TopicCount())
	}
	id := p.newTopicID(im)
	parts := p.placePartitions(im, id, 0, n, rf)
	if err := p.checkBrokerPartitions(im, req.Name, parts); err != nil {
		return nil, err
	}
	recs := append([]record{topicRecord{Name: req.Name, ID: id, Internal: req.Internal}}, parts...)
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
		taken := im.TopicByID(id) != nil
		if !taken && id != ([16]byte{}) && id != ([16]byte{15: 1}) {
			return id
		}
	}
}

// deleteTopic returns the records that delete the topic (its configs go
// with it).
func (p *planner) deleteTopic(im *Image, name string) ([]record, error) {
	t := im.Topic(name)
	if t == nil {
		return nil, fmt.Errorf("topic %q: %w", name, ErrUnknownTopic)
	}
	return []record{removeTopicRecord{TopicID: t.ID}}, nil
}

// createPartitions returns the records that raise the topic's partition
// count to count; new partitions get the replication factor of partition 0.
func (p *planner) createPartitions(im *Image, name string, count int32) ([]record, error) {
	t := im.Topic(name)
	if t == nil {
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
	parts := p.placePartitions(im, t.ID, cur, count, rf)
	if err := p.checkBrokerPartitions(im, name, parts); err != nil {
		return nil, err
	}
	return parts, nil
}

// checkBrokerPartitions refuses new partitions (partitionRecords) that
// would put more replicas on a broker than it may host.
func (p *planner) checkBrokerPartitions(im *Image, topic string, parts []record) error {
	added := map[int32]int{}
	for _, r := range parts {
		for _, id := range r.(partitionRecord).Replicas {
			added[id]++
		}
	}
	for _, id := range slices.Sorted(maps.Keys(added)) {
		if have := im.brokerReplicas[id]; have+added[id] > p.brokerPartitionsMax {
			return fmt.Errorf("topic %q: %w: %d more partitions on broker %d, which hosts %d of at most %d (topics.max_partitions_per_broker)",
				topic, ErrPolicyViolation, added[id], id, have, p.brokerPartitionsMax)
		}
	}
	return nil
}

// alterTopicConfigs returns the records that set (non-nil) or remove (nil)
// the topic's overrides. Removing an absent override is no change.
func (p *planner) alterTopicConfigs(im *Image, name string, set map[string]*string) ([]record, error) {
	t := im.Topic(name)
	if t == nil {
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

// alterClusterConfigs sets (non-nil) or removes (nil) cluster-wide dynamic
// broker configs, by broker config name (ValidateClusterConfig).
func alterClusterConfigs(im *Image, set map[string]*string) ([]record, error) {
	var recs []record
	for _, k := range slices.Sorted(maps.Keys(set)) {
		v := set[k]
		if v == nil {
			if _, ok := im.ClusterConfigs[k]; ok {
				recs = append(recs, configRecord{Key: k, Delete: true})
			}
			continue
		}
		if err := ValidateClusterConfig(k, *v); err != nil {
			return nil, fmt.Errorf("cluster-wide broker configs: %w", err)
		}
		recs = append(recs, configRecord{Key: k, Value: *v})
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

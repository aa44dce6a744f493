package quorum

import (
	"cmp"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
)

// Broker is a registered broker's endpoint.
type Broker struct {
	ID   int32
	Host string
	Port int32
	Rack string
	// Incarnation is random per registration, set by the controller (it is
	// ignored in Options.Broker). A multi-node controller tells a broker's
	// restart from a repeated registration by it.
	Incarnation [16]byte
	// The registration's state, set by the controller (ignored in
	// Options.Broker). Epoch is the offset of the RegisterBroker record that
	// started this incarnation. A fenced broker or one in controlled shutdown
	// may neither lead nor join an ISR (brokers.go).
	Epoch                int64
	Fenced               bool
	InControlledShutdown bool
}

// sameEndpoint reports whether b and o advertise the same broker endpoint.
func (b Broker) sameEndpoint(o Broker) bool {
	return b.ID == o.ID && b.Host == o.Host && b.Port == o.Port && b.Rack == o.Rack
}

// Partition is a partition's placement and leadership. During a
// reassignment (KIP-455) Replicas is the target replicas followed by the
// Removing ones, and Adding the target replicas new to the partition: it
// completes once all of them are in the ISR. Both are nil when no
// reassignment is in progress.
type Partition struct {
	ID             int32
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
	Removing       []int32
	Adding         []int32
}

// Reassigning reports whether a reassignment of p is in progress.
func (p Partition) Reassigning() bool { return len(p.Removing) > 0 || len(p.Adding) > 0 }

// Topic is one topic in the image. Configs holds only the topic's overrides
// (never nil). Partitions[i].ID == i.
type Topic struct {
	Name       string
	ID         [16]byte
	Partitions []Partition
	Configs    map[string]string
	Internal   bool
}

// Image is an immutable view of the cluster metadata at one log offset.
// Never modify it or anything it points to; the controller swaps in a new
// one on every change, sharing unchanged topics with the previous image.
type Image struct {
	Offset       int64 // metadata log offset this image reflects; -1 before any record
	ClusterID    string
	ControllerID int32
	Brokers      []Broker // sorted by ID
	// TopicsChanged names, sorted, the topics created, changed or removed
	// since the image this one was built from (the previous committed one,
	// or the empty image for the one Open replays), so that a listener
	// follows a change in O(what changed).
	TopicsChanged []string
	// ProducerIDsEnd: every producer id below it may have been handed out.
	ProducerIDsEnd int64
	// ClusterConfigs are the cluster-wide dynamic broker configs (the
	// BROKER resource with an empty name), by Kafka's broker config name
	// ("log.retention.ms"): topic config defaults that sit above each
	// broker's static ones. Never nil.
	ClusterConfigs map[string]string
	// Security holds the SCRAM credentials (scram.go), the ACLs (acl.go)
	// and the client quotas (quota.go).
	Security Security

	// The topics by name and by id, and each topic's name with '.' read
	// as '_' mapped to the name, so that a create finds a colliding name
	// without a scan. Immutable maps: a change copies none of them.
	topics     pmap[string, *Topic]
	topicsByID pmap[[16]byte, *Topic]
	topicNames pmap[string, string]
	// brokerReplicas counts the partition replicas placed on each broker,
	// for the per-broker partition limit.
	brokerReplicas map[int32]int
}

// emptyImage is the image before the first metadata record.
func emptyImage(controllerID int32) *Image {
	return &Image{
		Offset:         -1,
		ControllerID:   controllerID,
		ClusterConfigs: map[string]string{},
		brokerReplicas: map[int32]int{},
	}
}

// normalTopicName is name with '.' read as '_': two topics whose names are
// equal so would collide in metric names, as in Kafka.
func normalTopicName(name string) string { return strings.ReplaceAll(name, ".", "_") }

// Topic returns the topic named name, or nil.
func (im *Image) Topic(name string) *Topic {
	t, _ := im.topics.get(name)
	return t
}

// TopicByID returns the topic with id, or nil.
func (im *Image) TopicByID(id [16]byte) *Topic {
	t, _ := im.topicsByID.get(id)
	return t
}

// TopicCount is the number of topics.
func (im *Image) TopicCount() int { return im.topics.Len() }

// topicsByName returns every topic sorted by name, for the walks whose
// output must not depend on map order (records, snapshots).
func (im *Image) topicsByName() []*Topic {
	return slices.SortedFunc(im.Topics(), func(a, b *Topic) int { return cmp.Compare(a.Name, b.Name) })
}

// Topics yields every topic, in no particular order.
func (im *Image) Topics() iter.Seq[*Topic] {
	return func(yield func(*Topic) bool) {
		for _, t := range im.topics.all() {
			if !yield(t) {
				return
			}
		}
	}
}

// Broker returns the registered broker with id, if any.
func (im *Image) Broker(id int32) (Broker, bool) {
	i, ok := brokerIndex(im.Brokers, id)
	if !ok {
		return Broker{}, false
	}
	return im.Brokers[i], true
}

// brokerIndex finds id in brokers sorted by ID, or where it would go.
func brokerIndex(brokers []Broker, id int32) (int, bool) {
	return slices.BinarySearchFunc(brokers, id, func(b Broker, id int32) int { return cmp.Compare(b.ID, id) })
}

// apply returns the image after recs, the records of one batch whose last
// offset is offset. im is unchanged; an error leaves no partial image.
func (im *Image) apply(recs []record, offset int64) (*Image, error) {
	b := newImageBuilder(im)
	if err := b.applyBatch(recs, offset); err != nil {
		return nil, err
	}
	return b.next, nil
}

// Acceptable reports whether broker id may lead a partition or join an
// ISR: registered, unfenced and not in controlled shutdown.
func (im *Image) Acceptable(id int32) bool {
	b, ok := im.Broker(id)
	return ok && !b.Fenced && !b.InControlledShutdown
}

// LiveBrokers returns the acceptable brokers (see Acceptable), by id.
func (im *Image) LiveBrokers() []Broker {
	var live []Broker
	for _, b := range im.Brokers {
		if !b.Fenced && !b.InControlledShutdown {
			live = append(live, b)
		}
	}
	return live
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// LedBy returns the partitions broker id leads, by topic name and
// partition.
func (im *Image) LedBy(id int32) []TopicPartition {
	var led []TopicPartition
	for _, t := range im.topicsByName() {
		for _, p := range t.Partitions {
			if p.Leader == id {
				led = append(led, TopicPartition{Topic: t.Name, Partition: p.ID})
			}
		}
	}
	return led
}

func newImageBuilder(im *Image) *imageBuilder {
	next := *im
	next.Brokers = slices.Clone(im.Brokers)
	next.TopicsChanged = nil
	next.brokerReplicas = maps.Clone(im.brokerReplicas)
	return &imageBuilder{next: &next, cloned: map[*Topic]bool{}, changed: map[string]bool{}}
}

// applyBatch applies the records of one batch whose last offset is offset.
func (b *imageBuilder) applyBatch(recs []record, offset int64) error {
	for i, r := range recs {
		b.recordOffset = offset - int64(len(recs)-1-i)
		if err := r.apply(b); err != nil {
			return fmt.Errorf("%w: offset %d: %T: %v", ErrCorruptMetadata, b.recordOffset, r, err)
		}
	}
	b.next.Offset = offset
	b.next.TopicsChanged = slices.Sorted(maps.Keys(b.changed))
	return nil
}

// imageBuilder builds the next image copy-on-write: maps are copied once,
// a topic is copied on its first change. Replay applies the whole log
// through one builder; a commit applies one batch.
type imageBuilder struct {
	next    *Image
	cloned  map[*Topic]bool // topics already private to next
	changed map[string]bool // names of the topics the records touched
	// clusterConfigsCloned: next.ClusterConfigs is private to next.
	clusterConfigsCloned bool
	// recordOffset is the log offset of the record being applied.
	recordOffset int64
}

// topic returns a private copy of the topic with id, for changing.
func (b *imageBuilder) topic(id [16]byte) (*Topic, error) {
	t, ok := b.next.topicsByID.get(id)
	if !ok {
		return nil, fmt.Errorf("no topic with id %x", id)
	}
	if b.cloned[t] {
		return t, nil
	}
	b.changed[t.Name] = true
	c := *t
	c.Partitions = slices.Clone(t.Partitions)
	c.Configs = maps.Clone(t.Configs)
	b.cloned[&c] = true
	b.next.topics = b.next.topics.set(c.Name, &c)
	b.next.topicsByID = b.next.topicsByID.set(c.ID, &c)
	return &c, nil
}

func (r clusterIDRecord) apply(b *imageBuilder) error {
	if b.next.ClusterID != "" {
		return fmt.Errorf("cluster id %q already set", b.next.ClusterID)
	}
	b.next.ClusterID = r.ClusterID
	return nil
}

func (r registerBrokerRecord) apply(b *imageBuilder) error {
	br := Broker{ID: r.ID, Host: r.Host, Port: r.Port, Rack: r.Rack, Incarnation: r.Incarnation,
		Epoch: b.recordOffset, Fenced: true}
	i, found := brokerIndex(b.next.Brokers, r.ID)
	switch {
	case found && b.next.Brokers[i].Incarnation == r.Incarnation: // an amendment keeps the state
		cur := b.next.Brokers[i]
		br.Epoch, br.Fenced, br.InControlledShutdown = cur.Epoch, cur.Fenced, cur.InControlledShutdown
		b.next.Brokers[i] = br
	case found:
		b.next.Brokers[i] = br
	default:
		b.next.Brokers = slices.Insert(b.next.Brokers, i, br)
	}
	return nil
}

func (r brokerStateRecord) apply(b *imageBuilder) error {
	i, found := brokerIndex(b.next.Brokers, r.ID)
	if !found {
		return fmt.Errorf("broker %d is not registered", r.ID)
	}
	br := &b.next.Brokers[i]
	br.Epoch, br.Fenced, br.InControlledShutdown = r.Epoch, r.Fenced, r.InControlledShutdown
	return nil
}

func (r partitionChangeRecord) apply(b *imageBuilder) error {
	t, err := b.topic(r.TopicID)
	if err != nil {
		return err
	}
	if r.Partition < 0 || int(r.Partition) >= len(t.Partitions) {
		return fmt.Errorf("topic %q has no partition %d", t.Name, r.Partition)
	}
	p := &t.Partitions[r.Partition]
	if r.Replicas != nil {
		if err := checkReplicaList(r.Replicas); err != nil {
			return fmt.Errorf("topic %q partition %d: %w", t.Name, r.Partition, err)
		}
		b.countReplicas(p.Replicas, -1)
		b.countReplicas(r.Replicas, 1)
		p.Replicas = r.Replicas
	}
	if r.Removing != nil {
		p.Removing = nilIfEmpty(r.Removing)
	}
	if r.Adding != nil {
		p.Adding = nilIfEmpty(r.Adding)
	}
	if r.ISR != nil {
		if len(r.ISR) == 0 {
			return fmt.Errorf("topic %q partition %d: empty ISR", t.Name, r.Partition)
		}
		p.ISR = r.ISR
	}
	if r.Leader != noLeaderChange {
		p.Leader = r.Leader
		p.LeaderEpoch++
	}
	p.PartitionEpoch++
	return checkPartition(t.Name, *p)
}

// checkReplicaList refuses an empty replica list or one naming a broker
// twice.
func checkReplicaList(replicas []int32) error {
	if len(replicas) == 0 {
		return errors.New("empty replica list")
	}
	for i, id := range replicas {
		if slices.Contains(replicas[:i], id) {
			return fmt.Errorf("replica %d listed twice in %v", id, replicas)
		}
	}
	return nil
}

// checkPartition checks what every partition of an image holds: the ISR,
// the leader (unless -1) and the reassignment's replicas are replicas, and
// no replica is both added and removed.
func checkPartition(topic string, p Partition) error {
	inReplicas := func(ids []int32) bool {
		return !slices.ContainsFunc(ids, func(id int32) bool { return !slices.Contains(p.Replicas, id) })
	}
	switch {
	case !inReplicas(p.ISR) || !inReplicas(p.Removing) || !inReplicas(p.Adding):
		return fmt.Errorf("topic %q partition %d: ISR %v, removing %v or adding %v not within replicas %v",
			topic, p.ID, p.ISR, p.Removing, p.Adding, p.Replicas)
	case p.Leader != -1 && !slices.Contains(p.Replicas, p.Leader):
		return fmt.Errorf("topic %q partition %d: leader %d, replicas %v", topic, p.ID, p.Leader, p.Replicas)
	case slices.ContainsFunc(p.Adding, func(id int32) bool { return slices.Contains(p.Removing, id) }):
		return fmt.Errorf("topic %q partition %d: replicas both added %v and removed %v", topic, p.ID, p.Adding, p.Removing)
	}
	return nil
}

func nilIfEmpty(ids []int32) []int32 {
	if len(ids) == 0 {
		return nil
	}
	return ids
}

// countReplicas adds delta to the replica count of each broker in ids; a
// broker with none left has no entry, so equal images compare equal.
func (b *imageBuilder) countReplicas(ids []int32, delta int) {
	for _, id := range ids {
		if b.next.brokerReplicas[id] += delta; b.next.brokerReplicas[id] == 0 {
			delete(b.next.brokerReplicas, id)
		}
	}
}

func (r topicRecord) apply(b *imageBuilder) error {
	if _, ok := b.next.topics.get(r.Name); ok {
		return fmt.Errorf("topic %q exists", r.Name)
	}
	if _, ok := b.next.topicsByID.get(r.ID); ok {
		return fmt.Errorf("topic id %x exists", r.ID)
	}
	t := &Topic{Name: r.Name, ID: r.ID, Internal: r.Internal, Configs: map[string]string{}}
	b.cloned[t] = true
	b.changed[t.Name] = true
	b.next.topics = b.next.topics.set(t.Name, t)
	b.next.topicsByID = b.next.topicsByID.set(t.ID, t)
	b.next.topicNames = b.next.topicNames.set(normalTopicName(t.Name), t.Name)
	return nil
}

func (r partitionRecord) apply(b *imageBuilder) error {
	t, err := b.topic(r.TopicID)
	if err != nil {
		return err
	}
	if int(r.Partition) != len(t.Partitions) {
		return fmt.Errorf("topic %q: partition %d added after %d partitions", t.Name, r.Partition, len(t.Partitions))
	}
	p := Partition{
		ID:             r.Partition,
		Leader:         r.Leader,
		LeaderEpoch:    r.LeaderEpoch,
		PartitionEpoch: r.PartitionEpoch,
		Replicas:       r.Replicas,
		ISR:            r.ISR,
		Removing:       nilIfEmpty(r.Removing),
		Adding:         nilIfEmpty(r.Adding),
	}
	if err := checkReplicaList(r.Replicas); err != nil {
		return fmt.Errorf("topic %q partition %d: %w", t.Name, r.Partition, err)
	}
	if err := checkPartition(t.Name, p); err != nil {
		return err
	}
	t.Partitions = append(t.Partitions, p)
	b.countReplicas(r.Replicas, 1)
	return nil
}

func (r removeTopicRecord) apply(b *imageBuilder) error {
	t, ok := b.next.topicsByID.get(r.TopicID)
	if !ok {
		return fmt.Errorf("no topic with id %x", r.TopicID)
	}
	b.next.topics = b.next.topics.remove(t.Name)
	b.next.topicsByID = b.next.topicsByID.remove(t.ID)
	b.next.topicNames = b.next.topicNames.remove(normalTopicName(t.Name))
	for _, p := range t.Partitions {
		b.countReplicas(p.Replicas, -1)
	}
	b.changed[t.Name] = true
	return nil
}

func (r configRecord) apply(b *imageBuilder) error {
	if r.Topic == "" {
		return r.applyCluster(b)
	}
	cur, ok := b.next.topics.get(r.Topic)
	if !ok {
		return fmt.Errorf("no topic %q", r.Topic)
	}
	t, err := b.topic(cur.ID)
	if err != nil {
		return err
	}
	if r.Delete {
		delete(t.Configs, r.Key)
	} else {
		t.Configs[r.Key] = r.Value
	}
	return nil
}

// applyCluster changes a cluster-wide default, which changes the effective
// config of every topic without an override: all count as changed.
func (r configRecord) applyCluster(b *imageBuilder) error {
	if !b.clusterConfigsCloned {
		b.next.ClusterConfigs = maps.Clone(b.next.ClusterConfigs)
		b.clusterConfigsCloned = true
	}
	if r.Delete {
		delete(b.next.ClusterConfigs, r.Key)
	} else {
		b.next.ClusterConfigs[r.Key] = r.Value
	}
	for name := range b.next.topics.all() {
		b.changed[name] = true
	}
	return nil
}

func (r producerIDsRecord) apply(b *imageBuilder) error {
	if r.BlockEnd <= b.next.ProducerIDsEnd {
		return fmt.Errorf("producer id block end %d does not pass %d", r.BlockEnd, b.next.ProducerIDsEnd)
	}
	b.next.ProducerIDsEnd = r.BlockEnd
	return nil
}

package group

import (
	"cmp"
	"slices"
)

// CommittedOffset is a group's committed offset for one partition.
type CommittedOffset struct {
	Group     string
	Topic     string
	Partition int32
	Offset    int64
}

// CommittedOffsets lists the committed offsets of the groups on the
// __consumer_offsets partitions the machine serves (loaded), sorted by
// group, topic and partition.
func (m *Machine) CommittedOffsets() []CommittedOffset {
	var out []CommittedOffset
	for _, g := range m.groups {
		if m.partitions[g.partition] != PartitionActive {
			continue
		}
		for tp, o := range g.offsets {
			out = append(out, CommittedOffset{Group: g.id, Topic: tp.topic, Partition: tp.partition, Offset: o.offset})
		}
	}
	slices.SortFunc(out, func(a, b CommittedOffset) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}

// CommittedOffsets lists the committed offsets of the groups this broker
// coordinates (Machine.CommittedOffsets), for metrics.
func (c *Coordinator) CommittedOffsets() []CommittedOffset {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	return c.m.CommittedOffsets()
}

// Subscription is a topic that members of a consumer group subscribe to.
type Subscription struct {
	Group string
	Topic string
}

// Subscriptions lists the topics the members of each consumer group
// subscribe to, for the groups with members on the __consumer_offsets
// partitions the machine serves, sorted by group and topic. A group
// appears once its first join completes (a protocol is chosen), before
// any commit.
func (m *Machine) Subscriptions() []Subscription {
	var out []Subscription
	for _, g := range m.groups {
		if m.partitions[g.partition] != PartitionActive || len(g.members) == 0 {
			continue
		}
		topics, ok := g.subscribedTopics()
		if !ok {
			continue
		}
		for t := range topics {
			out = append(out, Subscription{Group: g.id, Topic: t})
		}
	}
	slices.SortFunc(out, func(a, b Subscription) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Topic, b.Topic))
	})
	return out
}

// Subscriptions lists the subscriptions of the groups this broker
// coordinates (Machine.Subscriptions), for metrics.
func (c *Coordinator) Subscriptions() []Subscription {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	return c.m.Subscriptions()
}

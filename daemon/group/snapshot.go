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
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m.CommittedOffsets()
}

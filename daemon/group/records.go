package group

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record versions written to __consumer_offsets, Kafka's own: keys 0 and 1
// are offset commits, key 2 is group metadata (see doc.go).
const (
	offsetKeyVersion   = 1
	offsetValueVersion = 3
	groupKeyVersion    = 2
	groupValueVersion  = 3
)

func offsetKey(group string, tp topicPartition) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: tp.topic, Partition: tp.partition}
	return k.AppendTo(nil)
}

func offsetValue(o offset) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version, v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = offsetValueVersion, o.offset, o.leaderEpoch, o.metadata, o.commitMs
	return v.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

// groupValue is g's metadata record; assignments replace the members'
// current ones when non-nil (a leader's SyncGroup being stored).
func groupValue(g *group, assignments map[string][]byte) []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version, v.ProtocolType, v.Generation, v.CurrentStateTimestamp = groupValueVersion, g.protocolType, g.generation, g.stateMs
	if g.protocolName != "" {
		v.Protocol = &g.protocolName
	}
	if g.leader != "" {
		v.Leader = &g.leader
	}
	for _, mem := range g.members {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.InstanceID, vm.ClientID, vm.ClientHost = mem.id, mem.instanceID, mem.clientID, mem.clientHost
		vm.RebalanceTimeoutMillis, vm.SessionTimeoutMillis = mem.rebalanceTimeoutMs, mem.sessionTimeoutMs
		vm.Subscription, vm.Assignment = mem.metadata(g.protocolName), mem.assignment
		if assignments != nil {
			vm.Assignment = assignments[mem.id]
		}
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return v.AppendTo(nil)
}

// storeGroup appends g's metadata record.
func (m *Machine) storeGroup(g *group, assignments map[string][]byte, done func(now int64, code int16)) {
	m.appendRecords(g.partition, nil, []Record{{Key: groupKey(g.id), Value: groupValue(g, assignments)}}, done)
}

// Load replays one record of a loading partition. Records of versions this
// coordinator does not know (KIP-848 groups) are skipped.
func (m *Machine) Load(now int64, partition int32, key, value []byte) error {
	if m.partitions[partition] != PartitionLoading {
		panic(fmt.Sprintf("group: Load into partition %d, which is not loading", partition))
	}
	if len(key) < 2 {
		return fmt.Errorf("group: record key of %d bytes", len(key))
	}
	switch binary.BigEndian.Uint16(key) {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("group: offset commit key: %w", err)
		}
		return m.loadOffset(now, partition, k, value)
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("group: group metadata key: %w", err)
		}
		return m.loadGroup(now, partition, k.Group, value)
	}
	return nil
}

func (m *Machine) loadOffset(now int64, partition int32, k kmsg.OffsetCommitKey, value []byte) error {
	tp := topicPartition{k.Topic, k.Partition}
	if value == nil {
		if g := m.groups[k.Group]; g != nil {
			delete(g.offsets, tp)
		}
		return nil
	}
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(value); err != nil {
		return fmt.Errorf("group %q: offset commit value for %s-%d: %w", k.Group, k.Topic, k.Partition, err)
	}
	o := offset{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitMs: v.CommitTimestamp, expireMs: -1}
	if v.Version >= 3 {
		o.leaderEpoch = v.LeaderEpoch
	}
	if v.Version == 1 {
		o.expireMs = v.ExpireTimestamp
	}
	m.loadingGroup(k.Group, partition, now).offsets[tp] = o
	return nil
}

func (m *Machine) loadGroup(now int64, partition int32, id string, value []byte) error {
	g := m.loadingGroup(id, partition, now)
	offsets := g.offsets
	*g = *newGroup(id, partition, now)
	g.offsets = offsets
	if value == nil {
		return nil
	}
	var v kmsg.GroupMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return fmt.Errorf("group %q: metadata value: %w", id, err)
	}
	g.generation, g.protocolType, g.stateMs = v.Generation, v.ProtocolType, now
	if v.Version >= 2 && v.CurrentStateTimestamp >= 0 {
		g.stateMs = v.CurrentStateTimestamp
	}
	if v.Protocol != nil {
		g.protocolName = *v.Protocol
	}
	for _, vm := range v.Members {
		mem := &member{
			id: vm.MemberID, instanceID: vm.InstanceID, clientID: vm.ClientID, clientHost: vm.ClientHost,
			rebalanceTimeoutMs: vm.RebalanceTimeoutMillis, sessionTimeoutMs: vm.SessionTimeoutMillis,
			protocolType: v.ProtocolType, protocols: []protocol{{g.protocolName, vm.Subscription}},
			assignment: vm.Assignment,
		}
		if v.Version == 0 {
			mem.rebalanceTimeoutMs = mem.sessionTimeoutMs
		}
		g.add(mem)
	}
	if v.Leader != nil && g.member(*v.Leader) != nil {
		g.leader = *v.Leader
	}
	if len(g.members) > 0 {
		g.state = Stable
	}
	return nil
}

// loadingGroup returns the group being rebuilt, creating it.
func (m *Machine) loadingGroup(id string, partition int32, now int64) *group {
	g := m.groups[id]
	if g == nil {
		g = newGroup(id, partition, now)
		m.groups[id] = g
	}
	return g
}

// finishLoad makes a loaded partition's groups live: groups left with
// neither metadata nor offsets are dropped, and restored members get a
// session timeout from now to heartbeat.
func (m *Machine) finishLoad(now int64, partition int32) {
	for id, g := range m.groups {
		if g.partition != partition {
			continue
		}
		if g.generation == 0 && g.protocolType == "" && len(g.offsets) == 0 {
			delete(m.groups, id)
			continue
		}
		for _, mem := range g.members {
			mem.deadline = now + int64(mem.sessionTimeoutMs)
		}
	}
}

package quorum

import (
	"fmt"
)

// recordType is the first byte of a metadata record's key; the second is
// the record's version. See doc.go for the record catalogue.
type recordType uint8

const (
	typeClusterID       recordType = 1
	typeRegisterBroker  recordType = 2
	typeTopic           recordType = 3
	typePartition       recordType = 4
	typeRemoveTopic     recordType = 5
	typeConfig          recordType = 6
	typeProducerIDs     recordType = 7
	typeNoOp            recordType = 8
	typeBrokerState     recordType = 9
	typePartitionChange recordType = 10
)

// record is one metadata record: a fact appended to the metadata log and
// applied to the image in log order.
type record interface {
	key() [2]byte // type, version
	encode(e *encoder)
	apply(b *imageBuilder) error
}

// Every record type is at version 0, but Partition and PartitionChange
// records that carry a reassignment are at version 1. A decoder meeting a
// version it does not know fails: it was written by a newer Riffle.

type clusterIDRecord struct{ ClusterID string }

// registerBrokerRecord registers (or re-registers) a broker's endpoint. A
// new incarnation starts a new registration: broker epoch = this record's
// offset, fenced. The same incarnation amends the endpoint only.
type registerBrokerRecord struct {
	ID          int32
	Host        string
	Port        int32
	Rack        string
	Incarnation [16]byte
}

// brokerStateRecord sets a registered broker's state: its epoch (the
// planner writes the current one; a snapshot restores it), whether it is
// fenced and whether it is in controlled shutdown.
type brokerStateRecord struct {
	ID                   int32
	Epoch                int64
	Fenced               bool
	InControlledShutdown bool
}

// noLeaderChange is partitionChangeRecord.Leader when the leader stays.
const noLeaderChange = -2

// partitionChangeRecord changes a partition, KRaft's PartitionChangeRecord:
// only the fields it carries change. Leader noLeaderChange keeps the leader;
// any other value (even the same id, or -1: offline) sets it and bumps the
// leader epoch. A nil ISR, Replicas, Removing or Adding keeps that field
// (an empty non-nil Removing or Adding clears it). The partition epoch
// always bumps. Version 1 carries the reassignment fields (Replicas,
// Removing, Adding); a change without them is written as version 0.
type partitionChangeRecord struct {
	TopicID   [16]byte
	Partition int32
	Leader    int32
	ISR       []int32
	Replicas  []int32
	Removing  []int32
	Adding    []int32
}

// reassigns reports whether r carries reassignment fields (version 1).
func (r partitionChangeRecord) reassigns() bool {
	return r.Replicas != nil || r.Removing != nil || r.Adding != nil
}

type topicRecord struct {
	Name     string
	ID       [16]byte
	Internal bool
}

// partitionRecord adds a partition (or restores it from a snapshot).
// Version 1 adds the replicas a reassignment in progress removes and adds;
// a partition with none is written as version 0.
type partitionRecord struct {
	TopicID        [16]byte
	Partition      int32
	Replicas       []int32
	ISR            []int32
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	Removing       []int32
	Adding         []int32
}

func (r partitionRecord) version() byte {
	if len(r.Removing) > 0 || len(r.Adding) > 0 {
		return 1
	}
	return 0
}

func (r partitionChangeRecord) version() byte {
	if r.reassigns() {
		return 1
	}
	return 0
}

type removeTopicRecord struct{ TopicID [16]byte }

// configRecord sets a topic config override, or removes it when Delete;
// with Topic "" (no topic has that name) it is a cluster-wide dynamic
// broker config (Image.ClusterConfigs).
type configRecord struct {
	Topic  string
	Key    string
	Value  string
	Delete bool
}

// producerIDsRecord reserves every producer id below BlockEnd.
type producerIDsRecord struct{ BlockEnd int64 }

// noOpRecord is raft's empty entry (a new leader's first), stored as a batch
// so that it takes an offset on every node alike. It changes nothing.
type noOpRecord struct{}

func (noOpRecord) apply(*imageBuilder) error { return nil }

func (clusterIDRecord) key() [2]byte      { return [2]byte{byte(typeClusterID), 0} }
func (registerBrokerRecord) key() [2]byte { return [2]byte{byte(typeRegisterBroker), 0} }
func (topicRecord) key() [2]byte          { return [2]byte{byte(typeTopic), 0} }
func (r partitionRecord) key() [2]byte    { return [2]byte{byte(typePartition), r.version()} }
func (removeTopicRecord) key() [2]byte    { return [2]byte{byte(typeRemoveTopic), 0} }
func (configRecord) key() [2]byte         { return [2]byte{byte(typeConfig), 0} }
func (producerIDsRecord) key() [2]byte    { return [2]byte{byte(typeProducerIDs), 0} }
func (noOpRecord) key() [2]byte           { return [2]byte{byte(typeNoOp), 0} }
func (brokerStateRecord) key() [2]byte    { return [2]byte{byte(typeBrokerState), 0} }
func (r partitionChangeRecord) key() [2]byte {
	return [2]byte{byte(typePartitionChange), r.version()}
}

func (r clusterIDRecord) encode(e *encoder) { e.string(r.ClusterID) }

func (r registerBrokerRecord) encode(e *encoder) {
	e.int32(r.ID)
	e.string(r.Host)
	e.int32(r.Port)
	e.string(r.Rack)
	e.uuid(r.Incarnation)
}

func (r topicRecord) encode(e *encoder) {
	e.string(r.Name)
	e.uuid(r.ID)
	e.bool(r.Internal)
}

func (r partitionRecord) encode(e *encoder) {
	e.uuid(r.TopicID)
	e.int32(r.Partition)
	e.int32s(r.Replicas)
	e.int32s(r.ISR)
	e.int32(r.Leader)
	e.int32(r.LeaderEpoch)
	e.int32(r.PartitionEpoch)
	if r.version() == 1 {
		e.int32s(r.Removing)
		e.int32s(r.Adding)
	}
}

func (r removeTopicRecord) encode(e *encoder) { e.uuid(r.TopicID) }

func (r configRecord) encode(e *encoder) {
	e.string(r.Topic)
	e.string(r.Key)
	e.string(r.Value)
	e.bool(r.Delete)
}

func (r producerIDsRecord) encode(e *encoder) { e.int64(r.BlockEnd) }

func (noOpRecord) encode(*encoder) {}

func (r brokerStateRecord) encode(e *encoder) {
	e.int32(r.ID)
	e.int64(r.Epoch)
	e.bool(r.Fenced)
	e.bool(r.InControlledShutdown)
}

// Each array is a presence flag, then the array when present.
func (r partitionChangeRecord) encode(e *encoder) {
	e.uuid(r.TopicID)
	e.int32(r.Partition)
	e.int32(r.Leader)
	fields := [][]int32{r.ISR}
	if r.version() == 1 {
		fields = append(fields, r.Replicas, r.Removing, r.Adding)
	}
	for _, f := range fields {
		e.bool(f != nil)
		if f != nil {
			e.int32s(f)
		}
	}
}

// optionalInt32s decodes an array behind a presence flag: nil when absent,
// never nil when present.
func (d *decoder) optionalInt32s() []int32 {
	if !d.bool() {
		return nil
	}
	if vs := d.int32s(); vs != nil {
		return vs
	}
	return []int32{}
}

// encodeRecord returns the record's log key and value.
func encodeRecord(r record) (key, value []byte) {
	k := r.key()
	var e encoder
	r.encode(&e)
	return k[:], e.b
}

// decodeRecord parses a record's log key and value.
func decodeRecord(key, value []byte) (record, error) {
	if len(key) != 2 {
		return nil, fmt.Errorf("%w: record key of %d bytes, want 2", ErrCorruptMetadata, len(key))
	}
	typ, version := recordType(key[0]), key[1]
	if version != 0 && !(version == 1 && (typ == typePartition || typ == typePartitionChange)) {
		return nil, fmt.Errorf("%w: record type %d version %d is newer than this broker knows",
			ErrCorruptMetadata, typ, version)
	}
	d := decoder{b: value}
	var r record
	switch typ {
	case typeClusterID:
		r = clusterIDRecord{ClusterID: d.string()}
	case typeRegisterBroker:
		r = registerBrokerRecord{ID: d.int32(), Host: d.string(), Port: d.int32(), Rack: d.string(), Incarnation: d.uuid()}
	case typeTopic:
		r = topicRecord{Name: d.string(), ID: d.uuid(), Internal: d.bool()}
	case typePartition:
		p := partitionRecord{TopicID: d.uuid(), Partition: d.int32(), Replicas: d.int32s(), ISR: d.int32s(),
			Leader: d.int32(), LeaderEpoch: d.int32(), PartitionEpoch: d.int32()}
		if version == 1 {
			p.Removing, p.Adding = d.int32s(), d.int32s()
		}
		r = p
	case typeRemoveTopic:
		r = removeTopicRecord{TopicID: d.uuid()}
	case typeConfig:
		r = configRecord{Topic: d.string(), Key: d.string(), Value: d.string(), Delete: d.bool()}
	case typeProducerIDs:
		r = producerIDsRecord{BlockEnd: d.int64()}
	case typeNoOp:
		r = noOpRecord{}
	case typeBrokerState:
		r = brokerStateRecord{ID: d.int32(), Epoch: d.int64(), Fenced: d.bool(), InControlledShutdown: d.bool()}
	case typePartitionChange:
		c := partitionChangeRecord{TopicID: d.uuid(), Partition: d.int32(), Leader: d.int32()}
		c.ISR = d.optionalInt32s()
		if version == 1 {
			c.Replicas, c.Removing, c.Adding = d.optionalInt32s(), d.optionalInt32s(), d.optionalInt32s()
		}
		r = c
	default:
		if r = decodeSecurityRecord(typ, &d); r == nil {
			return nil, fmt.Errorf("%w: unknown record type %d", ErrCorruptMetadata, typ)
		}
	}
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("%w: record type %d: %v", ErrCorruptMetadata, typ, err)
	}
	return r, nil
}

package wirecheck

//go:generate go run ./gen -o schema_gen.go $KAFKA_PROTOCOL

import "fmt"

// kind is a field's type on the wire.
type kind uint8

const (
	kBool kind = iota
	kInt8
	kInt16
	kUint16
	kInt32
	kUint32
	kInt64
	kFloat64
	kUUID
	kString
	kBytes
	kRecords // a record set: bytes here, validated by the record batch code
	kStruct
)

// widths is the encoded size of each fixed-width kind, 0 for the others.
var widths = [...]int{kBool: 1, kInt8: 1, kInt16: 2, kUint16: 2, kInt32: 4, kUint32: 4,
	kInt64: 8, kFloat64: 8, kUUID: 16, kString: 0, kBytes: 0, kRecords: 0, kStruct: 0}

// open is the upper bound of a "N+" version range.
const open = 1<<15 - 1

// vrange is a range of versions, from inclusive, to exclusive; the zero
// value holds none.
type vrange struct{ from, to int16 }

func (r vrange) has(v int16) bool { return r.from <= v && v < r.to }

// message is one request's schema.
type message struct {
	name     string
	valid    vrange
	flexible vrange
	fields   []field
}

// field is one field of a request or of a struct inside one.
type field struct {
	name     string
	kind     kind
	array    bool // an array of kind
	versions vrange
	nullable vrange
	tagged   vrange // versions in which the field is a tagged field
	tag      uint32
	fields   []field // kStruct's fields
}

// newerSameLayout extends requests to versions newer than the JSON
// definitions they are generated from, which Kafka added without changing
// the layout (KIP-890 part 2 changed only what the broker does with
// them): API key -> newest version.
var newerSameLayout = map[int16]int16{
	0:  12, // Produce v12: the leader adds the partition to the transaction
	28: 5,  // TxnOffsetCommit v5: the coordinator adds the offsets partition
}

func init() {
	for key, newest := range newerSameLayout {
		m := requests[key]
		if m.valid.to != newest {
			panic(fmt.Sprintf("wirecheck: %s schemas end at v%d, want v%d to extend", m.name, m.valid.to-1, newest-1))
		}
		m.valid.to = newest + 1
	}
}

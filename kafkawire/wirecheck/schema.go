package wirecheck

//go:generate go run ./gen -o schema_gen.go $KAFKA_PROTOCOL

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

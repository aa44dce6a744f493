package quorum

import (
	"encoding/binary"
	"fmt"
)

// The value encoding of metadata records: fixed-width big-endian integers,
// strings and int32 arrays prefixed with a uvarint length. Decoding checks
// every length against the bytes left before allocating.

type encoder struct{ b []byte }

func (e *encoder) int8(v int8)     { e.b = append(e.b, byte(v)) }
func (e *encoder) int32(v int32)   { e.b = binary.BigEndian.AppendUint32(e.b, uint32(v)) }
func (e *encoder) int64(v int64)   { e.b = binary.BigEndian.AppendUint64(e.b, uint64(v)) }
func (e *encoder) uuid(v [16]byte) { e.b = append(e.b, v[:]...) }

func (e *encoder) bool(v bool) {
	if v {
		e.int8(1)
	} else {
		e.int8(0)
	}
}

func (e *encoder) string(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) int32s(vs []int32) {
	e.b = binary.AppendUvarint(e.b, uint64(len(vs)))
	for _, v := range vs {
		e.int32(v)
	}
}

// decoder reads what encoder wrote. The first error sticks; later reads
// return zero values, so a record decoder checks err once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = fmt.Errorf("%s needs %d bytes, %d left", what, n, len(d.b))
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) int8() int8 {
	if b := d.take(1, "int8"); b != nil {
		return int8(b[0])
	}
	return 0
}

func (d *decoder) bool() bool {
	v := d.int8()
	if v != 0 && v != 1 && d.err == nil {
		d.err = fmt.Errorf("bool byte %d", v)
	}
	return v == 1
}

func (d *decoder) int32() int32 {
	if b := d.take(4, "int32"); b != nil {
		return int32(binary.BigEndian.Uint32(b))
	}
	return 0
}

func (d *decoder) int64() int64 {
	if b := d.take(8, "int64"); b != nil {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

func (d *decoder) uuid() (v [16]byte) {
	copy(v[:], d.take(16, "uuid"))
	return v
}

// length reads a uvarint count of elements of elemSize bytes each and checks
// that they fit in what is left.
func (d *decoder) length(elemSize int, what string) int {
	if d.err != nil {
		return 0
	}
	n, w := binary.Uvarint(d.b)
	if w <= 0 {
		d.err = fmt.Errorf("%s length: bad uvarint", what)
		return 0
	}
	d.b = d.b[w:]
	if n > uint64(len(d.b)/elemSize) {
		d.err = fmt.Errorf("%s length %d exceeds the %d bytes left", what, n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	return string(d.take(d.length(1, "string"), "string"))
}

func (d *decoder) int32s() []int32 {
	n := d.length(4, "int32 array")
	if d.err != nil {
		return nil
	}
	vs := make([]int32, n)
	for i := range vs {
		vs[i] = d.int32()
	}
	return vs
}

// finish reports the sticky error or trailing bytes.
func (d *decoder) finish() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	return d.err
}

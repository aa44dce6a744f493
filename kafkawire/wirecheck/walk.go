package wirecheck

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Request checks body, the bytes of a request after its header, as request
// apiKey at version (see the package comment for what is checked).
func Request(apiKey, version int16, body []byte) error {
	m := requests[apiKey]
	if m == nil || !m.valid.has(version) {
		return fmt.Errorf("no schema for api key %d v%d", apiKey, version)
	}
	w := walker{src: body, flexible: m.flexible.has(version)}
	return w.fields(m.fields, version)
}

// SkipTags checks the tag section at the start of b (a flexible request
// header's, which has no known tags) and returns the bytes after it.
func SkipTags(b []byte) ([]byte, error) {
	w := walker{src: b, flexible: true}
	if err := w.tags(nil, 0); err != nil {
		return nil, err
	}
	return w.src, nil
}

// walker consumes src. Its work is linear in the bytes it consumes: a loop
// runs only on a count that the bytes left can hold, and each iteration
// consumes a byte at least (fixed-size array elements are skipped at once).
type walker struct {
	src      []byte // bytes left
	flexible bool   // compact lengths and tag sections
}

// fields walks the fields of a struct (or of a request) present at v, then
// its tag section.
func (w *walker) fields(fs []field, v int16) error {
	for i := range fs {
		f := &fs[i]
		if !f.versions.has(v) || f.tagged.has(v) {
			continue
		}
		if err := w.field(f, v); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	if !w.flexible {
		return nil
	}
	return w.tags(fs, v)
}

// field walks one field: a value or an array of them.
func (w *walker) field(f *field, v int16) error {
	if !f.array {
		return w.value(f, v, f.nullable.has(v))
	}
	elemSize, fixed := w.minSize(f, v)
	n, err := w.length(4, f.nullable.has(v), max(elemSize, 1))
	if err != nil || n <= 0 {
		return err
	}
	if fixed {
		w.src = w.src[n*elemSize:]
		return nil
	}
	// Elements of a variable size take at least a byte each (a length or
	// a tag section), and n*elemSize fits in the bytes left.
	for range n {
		if err := w.value(f, v, false); err != nil {
			return err
		}
	}
	return nil
}

// value walks one value of f's kind.
func (w *walker) value(f *field, v int16, nullable bool) error {
	switch f.kind {
	case kString:
		return w.skipSized(2, nullable)
	case kBytes, kRecords:
		return w.skipSized(4, nullable)
	case kStruct:
		if nullable {
			// A nullable struct is prefixed by -1 (null) or 1 (present).
			marker, err := w.take(1)
			if err != nil {
				return err
			}
			switch int8(marker[0]) {
			case -1:
				return nil
			case 1:
			default:
				return fmt.Errorf("struct presence marker %d", int8(marker[0]))
			}
		}
		return w.fields(f.fields, v)
	default:
		_, err := w.take(widths[f.kind])
		return err
	}
}

// skipSized skips a string or byte array: its length and its bytes.
func (w *walker) skipSized(classicWidth int, nullable bool) error {
	n, err := w.length(classicWidth, nullable, 1)
	if n > 0 {
		w.src = w.src[n:]
	}
	return err
}

// length reads the length or count prefix of a string, byte array or
// array: a uvarint of length+1 in flexible versions, else a classic signed
// int16 or int32. It returns -1 for null and fails unless length*unit fits
// in the bytes left.
func (w *walker) length(classicWidth int, nullable bool, unit int) (int, error) {
	var n int64
	if w.flexible {
		u, err := w.uvarint()
		if err != nil {
			return 0, err
		}
		n = int64(u) - 1
	} else {
		b, err := w.take(classicWidth)
		if err != nil {
			return 0, err
		}
		if classicWidth == 2 {
			n = int64(int16(binary.BigEndian.Uint16(b)))
		} else {
			n = int64(int32(binary.BigEndian.Uint32(b)))
		}
	}
	switch {
	case n == -1 && !nullable:
		return 0, errors.New("null, but not nullable")
	case n < -1:
		return 0, fmt.Errorf("negative length %d", n)
	case n*int64(unit) > int64(len(w.src)):
		if unit > 1 {
			return 0, fmt.Errorf("count %d of at least %d bytes each exceeds the %d bytes left", n, unit, len(w.src))
		}
		return 0, fmt.Errorf("length %d exceeds the %d bytes left", n, len(w.src))
	}
	return int(n), nil
}

// minSize returns the fewest bytes one element of f takes at v, and
// whether every element takes exactly that many.
func (w *walker) minSize(f *field, v int16) (int, bool) {
	switch f.kind {
	case kString:
		if w.flexible {
			return 1, false
		}
		return 2, false
	case kBytes, kRecords:
		if w.flexible {
			return 1, false
		}
		return 4, false
	case kStruct:
		size, fixed := 0, !w.flexible
		if w.flexible {
			size = 1 // the tag section's count
		}
		for i := range f.fields {
			sub := &f.fields[i]
			if !sub.versions.has(v) || sub.tagged.has(v) {
				continue
			}
			if sub.array || sub.nullable.has(v) {
				// A count or a length, or a null, or a presence marker.
				fixed = false
				size++
				continue
			}
			n, subFixed := w.minSize(sub, v)
			size += n
			fixed = fixed && subFixed
		}
		return size, fixed
	default:
		return widths[f.kind], true
	}
}

// tags walks a tag section: a count, then each tag, size and payload. A
// tag the schema fs knows is walked as its field: kmsg decodes a known tag
// whatever the request version, so its payload is walked as of the first
// version that defines it.
func (w *walker) tags(fs []field, v int16) error {
	n, err := w.uvarint()
	if err != nil {
		return fmt.Errorf("tag count: %w", err)
	}
	// A tagged field takes at least two bytes: its tag and its size.
	if int64(n)*2 > int64(len(w.src)) {
		return fmt.Errorf("tag count %d exceeds the %d bytes left", n, len(w.src))
	}
	for range n {
		tag, err := w.uvarint()
		if err != nil {
			return fmt.Errorf("tag: %w", err)
		}
		size, err := w.uvarint()
		if err != nil {
			return fmt.Errorf("tag %d size: %w", tag, err)
		}
		payload, err := w.take(int(size))
		if err != nil {
			return fmt.Errorf("tag %d: %w", tag, err)
		}
		f := taggedField(fs, tag)
		if f == nil {
			continue
		}
		sub := walker{src: payload, flexible: true}
		if err := sub.field(f, max(v, f.tagged.from)); err != nil {
			return fmt.Errorf("tag %d (%s): %w", tag, f.name, err)
		}
		if len(sub.src) != 0 {
			return fmt.Errorf("tag %d (%s): %d bytes left over", tag, f.name, len(sub.src))
		}
	}
	return nil
}

func taggedField(fs []field, tag uint32) *field {
	for i := range fs {
		if fs[i].tagged != (vrange{}) && fs[i].tag == tag {
			return &fs[i]
		}
	}
	return nil
}

// take consumes n bytes.
func (w *walker) take(n int) ([]byte, error) {
	if n > len(w.src) {
		return nil, fmt.Errorf("%d bytes needed, %d left", n, len(w.src))
	}
	b := w.src[:n]
	w.src = w.src[n:]
	return b, nil
}

// uvarint reads an unsigned varint of at most 32 bits (five bytes).
func (w *walker) uvarint() (uint32, error) {
	var x uint32
	for i := 0; ; i++ {
		if i == len(w.src) {
			return 0, errors.New("truncated varint")
		}
		c := w.src[i]
		if i == 4 && c > 0x0f {
			return 0, errors.New("varint overflows 32 bits")
		}
		x |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			w.src = w.src[i+1:]
			return x, nil
		}
	}
}

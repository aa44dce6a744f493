package kafkawire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ReadFrame reads one u32-length-prefixed frame into buf. The buffer grows
// with the bytes that arrive, not with the length a peer announces.
// io.EOF means the stream ended cleanly between frames.
func ReadFrame(r io.Reader, buf *bytes.Buffer, maxBytes int) error {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		return fmt.Errorf("frame size: %w", err)
	}
	n := binary.BigEndian.Uint32(size[:])
	if n == 0 || uint64(n) > uint64(maxBytes) {
		return fmt.Errorf("frame of %d bytes (max %d)", n, maxBytes)
	}
	buf.Reset()
	if _, err := io.CopyN(buf, r, int64(n)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("frame of %d bytes: %w", n, err)
	}
	return nil
}

package netio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// frameHeaderBytes is the size prefix: a big-endian int32 byte count.
const frameHeaderBytes = 4

var (
	// ErrFrameTooLarge: a size prefix above Config.MaxRequestBytes.
	ErrFrameTooLarge = errors.New("netio: frame larger than MaxRequestBytes")
	// ErrFrameSizeNegative: a size prefix below zero.
	ErrFrameSizeNegative = errors.New("netio: negative frame size")
	// ErrResponseTooLarge: a response over the int32 size prefix's range.
	ErrResponseTooLarge = errors.New("netio: response larger than 2 GiB")
	// ErrBadRegion: a file region with a negative offset or length.
	ErrBadRegion = errors.New("netio: bad file region")
	// ErrRegionTruncated: a file region ended before its length (the file
	// was truncated under it); the connection is closed.
	ErrRegionTruncated = errors.New("netio: file region truncated")
)

// inbound is the part of gnet.Conn the framer reads; tests feed it chunks.
type inbound interface {
	Peek(n int) ([]byte, error)
	Discard(n int) (int, error)
	Read(p []byte) (int, error)
	InboundBuffered() int
}

// readFrame takes the next complete frame out of in and copies it (without
// its size prefix) into a pooled buffer; the caller returns it with putBuf.
// With no complete frame buffered it returns (nil, nil) and leaves in as it
// was, so the rest arrives with the next read. A bad size prefix is an error
// and the connection must be closed: the stream cannot be resynchronised.
func readFrame(in inbound, maxBytes int32) (*[]byte, error) {
	if in.InboundBuffered() < frameHeaderBytes {
		return nil, nil
	}
	hdr, err := in.Peek(frameHeaderBytes)
	if err != nil {
		return nil, fmt.Errorf("peek frame header: %w", err)
	}
	size := int32(binary.BigEndian.Uint32(hdr))
	switch {
	case size < 0:
		return nil, fmt.Errorf("%w: %d", ErrFrameSizeNegative, size)
	case size > maxBytes:
		return nil, fmt.Errorf("%w: %d > %d", ErrFrameTooLarge, size, maxBytes)
	}
	if in.InboundBuffered() < frameHeaderBytes+int(size) {
		return nil, nil
	}
	if _, err := in.Discard(frameHeaderBytes); err != nil {
		return nil, fmt.Errorf("discard frame header: %w", err)
	}
	frame := getBuf(int(size))
	if _, err := io.ReadFull(in, *frame); err != nil {
		putBuf(frame)
		return nil, fmt.Errorf("read %d-byte frame: %w", size, err)
	}
	return frame, nil
}

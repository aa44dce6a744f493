package netio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// frameHeaderBytes is the size prefix: a big-endian int32 byte count.
const frameHeaderBytes = 4

var (
	// ErrFrameTooLarge: a size prefix above Config.MaxRequestBytes.
	ErrFrameTooLarge = errors.New("netio: frame larger than MaxRequestBytes")
	// ErrFrameSizeNegative: a size prefix below zero.
	ErrFrameSizeNegative = errors.New("netio: negative frame size")
	// ErrRequestMemory: a frame did not fit in QueuedMaxRequestBytes.
	ErrRequestMemory = errors.New("netio: request bytes in memory at QueuedMaxRequestBytes")
	// ErrResponseTooLarge: a response over the int32 size prefix's range.
	ErrResponseTooLarge = errors.New("netio: response larger than 2 GiB")
	// ErrTLSOnPlaintext: a connection's first bytes are a TLS handshake
	// record, on a listener without TLS.
	ErrTLSOnPlaintext = errors.New("netio: TLS handshake on a plaintext listener")
	// ErrCloseAfterResponse: a Handler's error that sends its response
	// and then closes the connection.
	ErrCloseAfterResponse = errors.New("netio: close after the response")
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

// framer cuts one connection's byte stream into frames. It copies a frame's
// body into the frame's own (pooled) buffer as the bytes arrive, so gnet's
// inbound buffer never grows to hold a large frame, and the frame's bytes
// are in memory once, reserved in the server's budget from the moment its
// size prefix is read.
type framer struct {
	frame  *[]byte      // the frame being received, or nil
	framed bool         // a size prefix was read: the stream is not new
	filled int          // bytes of frame received
	since  atomic.Int64 // unix nanoseconds when frame's size prefix arrived; 0 with no frame
}

// next returns the next whole frame (without its size prefix); the caller
// returns it with putBuf. With no whole frame buffered it returns
// (nil, nil), having taken what there was. reserve is asked for a new
// frame's size before its buffer is taken; false fails with
// ErrRequestMemory. A bad size prefix is an error and the connection must
// be closed: the stream cannot be resynchronised.
func (f *framer) next(in inbound, maxBytes int32, now int64, reserve func(n int) bool) (*[]byte, error) {
	if f.frame == nil {
		if in.InboundBuffered() < frameHeaderBytes {
			return nil, nil
		}
		hdr, err := in.Peek(frameHeaderBytes)
		if err != nil {
			return nil, fmt.Errorf("peek frame header: %w", err)
		}
		size := int32(binary.BigEndian.Uint32(hdr))
		switch {
		case !f.framed && looksLikeTLS(hdr):
			return nil, ErrTLSOnPlaintext
		case size < 0:
			return nil, fmt.Errorf("%w: %d", ErrFrameSizeNegative, size)
		case size > maxBytes:
			return nil, fmt.Errorf("%w: %d > %d", ErrFrameTooLarge, size, maxBytes)
		case !reserve(int(size)):
			return nil, fmt.Errorf("%w: %d-byte frame", ErrRequestMemory, size)
		}
		if _, err := in.Discard(frameHeaderBytes); err != nil {
			return nil, fmt.Errorf("discard frame header: %w", err)
		}
		f.frame, f.filled, f.framed = getBuf(int(size)), 0, true
		f.since.Store(now)
	}
	buf := *f.frame
	n := min(len(buf)-f.filled, in.InboundBuffered())
	if _, err := io.ReadFull(in, buf[f.filled:f.filled+n]); err != nil {
		return nil, fmt.Errorf("read %d bytes of a %d-byte frame: %w", n, len(buf), err)
	}
	f.filled += n
	if f.filled < len(buf) {
		return nil, nil
	}
	return f.take(), nil
}

// take removes the frame being received (nil if none) from f.
func (f *framer) take() *[]byte {
	frame := f.frame
	f.frame, f.filled = nil, 0
	f.since.Store(0)
	return frame
}

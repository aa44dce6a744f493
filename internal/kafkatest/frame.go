// Package kafkatest builds raw Kafka request frames for tests that talk to
// the broker below the level of a client library (bad input, exact bytes).
package kafkatest

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// formatter encodes requests the way a client does (header v1, or v2 with
// an empty tag section when flexible).
var formatter = kmsg.NewRequestFormatter(kmsg.FormatterClientID("kafkatest"))

// Frame encodes req as a request frame without the size prefix.
func Frame(req kmsg.Request, correlationID int32) []byte {
	return formatter.AppendRequest(nil, req, correlationID)[4:]
}

// Sized prefixes frame with its 4-byte size.
func Sized(frame []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(frame))), frame...)
}

// RoundTrip writes one sized frame on conn and reads one response frame
// (without its size prefix), with a deadline.
func RoundTrip(conn net.Conn, frame []byte, timeout time.Duration) ([]byte, error) {
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	if _, err := conn.Write(Sized(frame)); err != nil {
		return nil, fmt.Errorf("write request: %w", err)
	}
	return ReadFrame(conn)
}

// ReadFrame reads one size-prefixed frame.
func ReadFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 64<<20 {
		return nil, fmt.Errorf("response frame of %d bytes", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	return buf, nil
}

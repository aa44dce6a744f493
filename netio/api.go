package netio

// CONTRACT SKELETON (written by the lead so other packages compile). The netio
// implementer replaces the bodies, may split files and add, but keeps these
// exported names and signatures.

import (
	"context"
	"log/slog"
	"net"
	"os"
	"time"
)

// Piece is one part of a response: bytes, or a file region sent by sendfile.
type Piece struct {
	Bytes []byte // sent as is when File is nil

	File   *os.File // sent with sendfile(2) from Offset, Length bytes
	Offset int64
	Length int64

	Release func() // if set, called once after the piece is sent or dropped
}

// Len is the number of bytes the piece puts on the wire.
func (p Piece) Len() int64 {
	if p.File != nil {
		return p.Length
	}
	return int64(len(p.Bytes))
}

// Conn describes the client connection a request came in on.
type Conn struct {
	ID         uint64
	RemoteAddr net.Addr
	LocalAddr  net.Addr
}

// Handler serves one request frame (the bytes after the 4-byte size prefix).
// Calls for one connection are sequential (one request in flight per
// connection) and never on an event loop, so a handler may block (long-poll,
// fsync). frame is valid only during the call. A nil response sends nothing
// (acks=0); netio writes the 4-byte size prefix itself. An error closes the
// connection (logged).
type Handler interface {
	ServeFrame(ctx context.Context, c *Conn, frame []byte) ([]Piece, error)
}

// Config holds the listener's limits.
type Config struct {
	Addr               string        // "127.0.0.1:9092"; port 0 picks one
	EventLoops         int           // 0: GOMAXPROCS
	MaxRequestBytes    int32         // frames larger close the connection
	MaxConnections     int           // further accepts are closed at once
	MaxInflightBytes   int64         // response bytes queued per connection before reads pause
	IdleTimeout        time.Duration // a connection with no traffic this long is closed
	CopyRegionBytesMax int64         // regions up to this size are copied, not sendfile'd
	Logger             *slog.Logger
}

// Server is the gnet-based listener.
type Server struct{}

// Listen starts the event loops; it returns once the listener is bound.
func Listen(cfg Config, h Handler) (*Server, error) { panic("unimplemented") }

// Addr is the bound address (useful with port 0).
func (s *Server) Addr() net.Addr { panic("unimplemented") }

// Shutdown stops accepting, lets in-flight requests finish and their
// responses be written (until ctx ends), then closes all connections.
func (s *Server) Shutdown(ctx context.Context) error { panic("unimplemented") }

// Stats are the writer's counters.
type Stats struct {
	Connections   int64
	BytesSendfile int64 // file-region bytes sent by sendfile
	BytesCopied   int64 // file-region bytes copied
	BytesWritten  int64 // all response bytes
}

func (s *Server) Stats() Stats { panic("unimplemented") }

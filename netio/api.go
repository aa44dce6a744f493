package netio

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"time"
)

// Piece is one part of a response: bytes, or a file region sent by sendfile.
type Piece struct {
	Bytes []byte // sent as is when File is nil

	// File, Offset and Length name a region sent with sendfile(2) at an
	// explicit offset (the file position is neither used nor moved). The
	// Piece keeps File reachable until the region is sent.
	File   *os.File
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
	// Queued is how long the request being served waited between arriving
	// whole on the event loop and the start of ServeFrame (set before each
	// call; requests on a connection are served one at a time).
	Queued time.Duration
	// Listener is the name of the listener the connection came in on
	// (Config.Name).
	Listener string
	// TLS is the connection's TLS state after the handshake; nil on a
	// plaintext listener.
	TLS *tls.ConnectionState
	// Session is the handler's own per-connection state (authentication);
	// netio never reads it. Handler calls for a connection are sequential,
	// so it needs no lock.
	Session any

	mute          time.Duration // set by Mute during ServeFrame
	delayResponse bool
}

// Mute, called by the handler during ServeFrame, mutes the connection for
// d after this request (Kafka's quota throttling): netio reads and serves
// nothing more from it until d has passed. With delayResponse the response
// waits out d too, for clients that do not throttle themselves (Kafka's
// requests before KIP-219); otherwise it is sent at once. The last call
// of a ServeFrame counts.
func (c *Conn) Mute(d time.Duration, delayResponse bool) {
	c.mute, c.delayResponse = d, delayResponse
}

// takeMute returns and clears what Mute set.
func (c *Conn) takeMute() (d time.Duration, delayResponse bool) {
	d, delayResponse = c.mute, c.delayResponse
	c.mute, c.delayResponse = 0, false
	return d, delayResponse
}

// waitMuted waits d, or until ctx ends.
func waitMuted(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Handler serves one request frame (the bytes after the 4-byte size prefix).
// Calls for one connection are sequential (one request in flight per
// connection) and never on an event loop, so a handler may block (long-poll,
// fsync). frame is valid only during the call. A nil response sends nothing
// (acks=0); netio writes the 4-byte size prefix itself. An error closes the
// connection (logged) without sending pieces, unless it wraps
// ErrCloseAfterResponse: then pieces are sent first (a failed SASL
// authentication is answered, then the connection closed). ctx ends when
// the connection closes.
type Handler interface {
	ServeFrame(ctx context.Context, c *Conn, frame []byte) ([]Piece, error)
}

// Config holds the listener's limits. Zero values mean "no limit" except
// where a default is named.
type Config struct {
	Addr string // "127.0.0.1:9092"; port 0 picks one; an empty host means 0.0.0.0
	Name string // the listener's name, passed on in Conn.Listener
	// TLS, if set, makes this a TLS listener: each connection is served by
	// one goroutine (handshake, then read, serve, write in turn) and
	// responses are copied, never sendfile'd. EventLoops and
	// MaxInflightBytes do not apply to it.
	TLS              *tls.Config
	EventLoops       int   // 0: one per 4 Ps (GOMAXPROCS), at least one
	MaxRequestBytes  int32 // frames larger close the connection; 0: 100 MiB (Kafka's socket.request.max.bytes)
	MaxConnections   int   // further accepted connections are closed at once
	MaxInflightBytes int64 // response bytes queued per connection before reads pause
	// MaxBufferedRequestBytes bounds the request bytes a connection may have
	// buffered while a request is in flight or reads are paused (pipelining);
	// more closes the connection, since gnet cannot stop reading a socket.
	// It is raised to MaxRequestBytes+4 if lower. 0: no limit.
	MaxBufferedRequestBytes int64
	// QueuedMaxRequestBytes bounds the request bytes held in memory across
	// all connections (Kafka: queued.max.request.bytes): frames from their
	// size prefix until served, and bytes buffered by connections with a
	// request in flight. A frame that does not fit, or a connection whose
	// buffered bytes pass it, closes that connection (gnet cannot stop
	// reading a socket). Raised to MaxRequestBytes if lower. 0: no limit.
	QueuedMaxRequestBytes int64
	// RequestTimeout closes a connection whose frame is still incomplete
	// this long after its size prefix arrived. 0: no limit.
	RequestTimeout     time.Duration
	IdleTimeout        time.Duration // a connection with no request this long (and nothing to send) is closed
	CopyRegionBytesMax int64         // regions up to this size are copied, not sendfile'd; 0: always sendfile
	Logger             *slog.Logger  // nil: slog.Default()
}

// defaultMaxRequestBytes is Kafka's socket.request.max.bytes default.
const defaultMaxRequestBytes = 100 << 20

func (c Config) withDefaults() Config {
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = defaultMaxRequestBytes
	}
	if c.MaxBufferedRequestBytes > 0 {
		c.MaxBufferedRequestBytes = max(c.MaxBufferedRequestBytes, int64(c.MaxRequestBytes)+frameHeaderBytes)
	}
	if c.QueuedMaxRequestBytes > 0 {
		c.QueuedMaxRequestBytes = max(c.QueuedMaxRequestBytes, int64(c.MaxRequestBytes))
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Stats are the server's counters, read atomically one by one.
type Stats struct {
	Connections   int64 // open connections
	BytesSendfile int64 // file-region bytes sent by sendfile
	BytesCopied   int64 // file-region bytes copied (regions up to CopyRegionBytesMax)
	BytesWritten  int64 // all response bytes, size prefixes included
	// Sends counts the sendmsg and sendfile calls that wrote response
	// bytes on plaintext listeners: BytesWritten per send, and requests
	// per send, show how well responses are gathered.
	Sends       int64
	WriteStalls int64 // times a writer found the socket buffer full (EAGAIN) and parked
	// EventLoopBusy is the time spent in event-loop callbacks (connection
	// open and close, reading and dispatching frames), summed over loops.
	EventLoopBusy time.Duration
	AcceptErrors  int64 // failed accepts (EMFILE and the like); the listener backs off and retries
	Refused       int64 // connections closed at once because MaxConnections were open
	RequestBytes  int64 // request bytes in memory now (see QueuedMaxRequestBytes)
}

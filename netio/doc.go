// Package netio is Riffle's network layer: it accepts TCP connections, cuts
// the byte stream into size-prefixed frames (a 4-byte big-endian length, then
// that many bytes), hands each frame to a Handler and writes the Handler's
// response back, prefixed the same way. It knows nothing of Kafka.
//
// # Threads
//
// One goroutine accepts on a listener bound without SO_REUSEPORT (a port
// some other socket holds fails Listen with EADDRINUSE rather than sharing
// clients with it). Past MaxConnections it closes new connections at once;
// a failed accept (EMFILE, ENFILE) pauses it up to a second and it retries,
// Accepting reporting the failure meanwhile. Other connections are enrolled
// into the least loaded event loop of a gnet Client.
//
// Three kinds of goroutine touch a connection:
//
//   - gnet event loops (one per four Ps by default) read and frame.
//     OnTraffic copies each frame out of gnet's inbound buffer into a
//     pooled buffer as its bytes arrive (gnet's slices die at Discard,
//     and its ring buffers keep the size they grew to), queues whole
//     frames on the connection and passes them to its worker one at a
//     time. The loop never blocks and never writes the socket.
//   - The worker goroutine (one per connection) calls Handler.ServeFrame,
//     returns the frame buffer to the pool, queues the response for the
//     writer and takes the next ready frame itself (the ready queue has a
//     lock of its own), so no event loop is woken per request: waking the
//     loop with gnet's Conn.Wake cost an eventfd write, an epoll return and
//     a channel hand-off per pipelined request (7% of the broker's CPU at
//     50,000 x 1 KiB/s; ack p50 and p99 halved without it). A small response
//     held entirely in memory, with nothing queued before it, the worker
//     sends itself: a handoff to the writer would only add latency.
//   - The writer goroutine (one per connection) owns a dup of the socket
//     wrapped in a net.Conn, so Go's netpoller manages it. It sends queued
//     responses through RawConn.Write: bytes, and regions up to
//     CopyRegionBytesMax copied with pread, gathered into one sendmsg
//     (MSG_MORE while more follows); larger file regions with sendfile(2) at
//     an explicit offset. On EAGAIN the callback returns false and the
//     goroutine parks until the socket is writable, then resumes exactly
//     where it stopped. A cold page-cache miss in sendfile blocks only this
//     goroutine's thread, never an event loop. gnet's own Write is never used.
//     One goroutine at a time holds the right to send (connState.writing).
//
// gnet's loops block in epoll_wait while holding a Go P, so goroutines
// (workers, writers) get GOMAXPROCS minus the idle loops until the
// runtime's monitor (sysmon) retakes those Ps, and each retake keeps the
// monitor waking every 20 µs. Hence few loops by default (one per four
// Ps): on 2 CPUs one loop instead of two cut broker CPU per GB by 12% at
// 50,000 x 1 KiB/s and the monitor's share from 15% to under 1%.
//
// # Ordering and flow control
//
// Like Kafka, a connection has one request in flight: while the worker holds
// a frame, later frames wait in the connection's ready queue. The worker queues the
// response before it lets the next frame go, and the writer sends the queue
// in order, so responses leave in request order and handler calls for one
// connection never overlap. While a connection's queue holds more than
// MaxInflightBytes, nothing more is dispatched for it; the writer
// dispatches the next frame when the queue drains.
//
// gnet offers no way to stop reading a socket, so requests a client
// pipelines beyond the one in flight accumulate in the ready queue (Kafka
// clients bound this with max.in.flight.requests.per.connection); past
// MaxBufferedRequestBytes the connection is closed. For the same reason the
// broker-wide QueuedMaxRequestBytes (Kafka's queued.max.request.bytes) is
// enforced by refusal, not by muting as Kafka does: a frame's size is
// reserved when its size prefix arrives, and a frame that does not fit
// closes its connection. A frame still incomplete RequestTimeout after its
// size prefix closes the connection too, so slow senders cannot pin memory.
//
// # Muting
//
// A handler may mute its connection for a while (Conn.Mute; quotas): the
// worker keeps the connection busy until the time has passed, so nothing
// more is dispatched, and with delayResponse it queues the response only
// then. On a TLS connection nothing more is read meanwhile; on the event
// loop what the client sends waits in the ready queue as above.
//
// # Lifetimes
//
// gnet calls OnClose before it closes its fd. OnClose ends the connection's
// context, closes the dup (waking a parked writer with an error) and closes
// the worker's frame channel; the writer drops whatever is still queued.
// Each Piece's Release runs exactly once, after its response was sent or
// dropped. A Piece keeps its *os.File reachable until then, and the writer
// holds the file's fd through SyscallConn while sendfile runs, so a file
// closed concurrently cannot have its fd number reused under the syscall.
// sendfile returning 0 before a region ends means the file was truncated:
// the connection is closed, as Kafka does. A handler error closes the
// connection after the responses queued before it are sent. gnet closes a
// connection as soon as the client shuts down its sending side, so a client
// that half-closes loses its pending responses (Kafka clients never do).
//
// # TLS
//
// A listener with Config.TLS set runs no event loop work: tls.go serves
// each connection on one goroutine (handshake, then read a frame, serve it,
// write the response), copying file regions into TLS records, since
// sendfile cannot carry encrypted bytes without kernel TLS. A plaintext
// listener whose connection opens with a TLS handshake record answers a
// handshake_failure alert and closes, instead of reading a ~369 MB frame.
//
// # Files
//
//	api.go     Piece, Conn, Handler, Config, Stats
//	server.go  Listen, the accept loop, Shutdown, bookkeeping
//	events.go  gnet callbacks: open, close, framing dispatch, idle ticks
//	frame.go   the frame splitter
//	budget.go  the request-bytes budget
//	conn.go    per-connection state, worker goroutine, response queue
//	writer.go  writer goroutine: sendmsg, pread copies, sendfile
//	pool.go    size-class buffer pool for frames and copies
//	tls.go     TLS listeners' connections; TLS detection on plaintext ones
package netio

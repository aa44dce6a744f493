package netio

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// connState is one client connection: the event loop hands frames to its
// worker goroutine, the worker queues responses, the writer goroutine sends
// them on a dup of the socket.
type connState struct {
	s    *Server
	gc   gnet.Conn // only concurrency-safe methods (Wake, Close) off the loop
	info Conn

	ctx    context.Context // ends when the connection closes
	cancel context.CancelFunc

	frames chan *[]byte // loop → worker; one slot: one request in flight
	busy   atomic.Bool  // a frame is with the worker; set on the loop, cleared by the worker
	paused atomic.Bool  // the loop held frames back because the writer queue was full

	nc         net.Conn // dup of the socket, in Go's netpoller; only the writer writes it
	rc         syscall.RawConn
	lastActive atomic.Int64 // unix nanoseconds of the last request or completed response

	mu          sync.Mutex
	queue       []*response
	closed      bool
	wake        chan struct{} // one slot: the queue changed or closed
	queuedBytes atomic.Int64
}

// response is one queued response: its size prefix and pieces, or a
// marker that closes the connection once everything before it is sent.
type response struct {
	hdr       [frameHeaderBytes]byte
	pieces    []Piece
	bytes     int64 // on the wire, prefix included
	closeConn bool
}

// newConnState dups gc's socket into a Go net.Conn for the writer. The dup
// is ours alone: gnet closing (and reusing) its fd cannot affect it.
func newConnState(s *Server, gc gnet.Conn) (*connState, error) {
	fd, err := gc.Dup()
	if err != nil {
		return nil, fmt.Errorf("dup socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), "netio-conn")
	nc, err := net.FileConn(f) // dups again and registers with the netpoller
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("socket to net.Conn: %w", err)
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("socket to net.Conn: %T has no raw fd", nc)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("raw socket: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cs := &connState{
		s:      s,
		gc:     gc,
		info:   Conn{ID: s.nextID.Add(1), RemoteAddr: nc.RemoteAddr(), LocalAddr: nc.LocalAddr()},
		ctx:    ctx,
		cancel: cancel,
		frames: make(chan *[]byte, 1),
		nc:     nc,
		rc:     rc,
		wake:   make(chan struct{}, 1),
	}
	cs.touch()
	return cs, nil
}

func (cs *connState) touch() { cs.lastActive.Store(time.Now().UnixNano()) }

// idleFor is how long the connection has had nothing to do (0 while busy).
func (cs *connState) idleFor(now time.Time) time.Duration {
	if cs.busy.Load() || cs.queuedBytes.Load() > 0 {
		return 0
	}
	return now.Sub(time.Unix(0, cs.lastActive.Load()))
}

// writerFull reports (on the loop) whether the writer queue is over
// MaxInflightBytes; if so the writer wakes the loop once it drains.
func (cs *connState) writerFull() bool {
	limit := cs.s.cfg.MaxInflightBytes
	if limit <= 0 || cs.queuedBytes.Load() <= limit {
		return false
	}
	cs.paused.Store(true)
	// Re-check after publishing paused: the writer may have drained in between.
	return cs.queuedBytes.Load() > limit
}

// serve is the worker goroutine: it runs the handler for each frame, queues
// the response and lets the loop dispatch the next frame.
func (cs *connState) serve() {
	defer cs.s.workers.Done()
	for frame := range cs.frames {
		if cs.ctx.Err() != nil {
			putBuf(frame)
			cs.s.requestDone()
			continue
		}
		pieces, err := cs.s.handler.ServeFrame(cs.ctx, &cs.info, *frame)
		putBuf(frame)
		if err == nil {
			err = cs.enqueue(pieces)
		}
		if err != nil {
			// Close once the responses already queued are sent.
			cs.s.log.Warn("closing connection", "conn", cs.info.ID, "remote", cs.info.RemoteAddr, "err", err)
			releasePieces(pieces)
			cs.push(&response{closeConn: true})
			continue // busy stays set: nothing more is dispatched
		}
		cs.busy.Store(false)
		_ = cs.gc.Wake(nil) // dispatch the next buffered frame, if any
	}
}

// enqueue queues pieces as one response (nil: no response). It fails,
// queueing nothing, if the response cannot be framed.
func (cs *connState) enqueue(pieces []Piece) error {
	if pieces == nil {
		cs.s.requestDone()
		return nil
	}
	var size int64
	for _, p := range pieces {
		if p.File != nil && (p.Offset < 0 || p.Length < 0) {
			return fmt.Errorf("%w: %s@%d+%d", ErrBadRegion, p.File.Name(), p.Offset, p.Length)
		}
		size += p.Len()
	}
	if size > math.MaxInt32 {
		return fmt.Errorf("%w: %d bytes", ErrResponseTooLarge, size)
	}
	r := &response{pieces: pieces, bytes: frameHeaderBytes + size}
	binary.BigEndian.PutUint32(r.hdr[:], uint32(size))
	cs.push(r)
	return nil
}

// push queues r for the writer, or completes it at once if the connection
// is closed.
func (cs *connState) push(r *response) {
	cs.mu.Lock()
	if cs.closed {
		cs.mu.Unlock()
		cs.complete([]*response{r})
		return
	}
	cs.queue = append(cs.queue, r)
	cs.queuedBytes.Add(r.bytes)
	cs.mu.Unlock()
	cs.signal()
}

func (cs *connState) signal() {
	select {
	case cs.wake <- struct{}{}:
	default:
	}
}

// markClosed stops the connection's goroutines: the handler's context ends,
// a writer parked on the socket wakes with an error, queued responses are
// dropped by the writer. Safe to call more than once, from any goroutine.
func (cs *connState) markClosed() {
	cs.mu.Lock()
	already := cs.closed
	cs.closed = true
	cs.mu.Unlock()
	if already {
		return
	}
	cs.cancel()
	_ = cs.nc.Close()
	cs.signal()
}

// next blocks until responses are queued and takes them all; nil once the
// connection is closed (dropping whatever was still queued).
func (cs *connState) next() []*response {
	for {
		cs.mu.Lock()
		batch, closed := cs.queue, cs.closed
		cs.queue = nil
		cs.mu.Unlock()
		if closed {
			cs.complete(batch)
			return nil
		}
		if len(batch) > 0 {
			return batch
		}
		<-cs.wake
	}
}

// complete ends responses, sent or dropped: it releases their pieces, gives
// back their queue bytes, counts the requests answered and unpauses the loop.
func (cs *connState) complete(batch []*response) {
	for _, r := range batch {
		releasePieces(r.pieces)
		cs.queuedBytes.Add(-r.bytes)
		cs.s.requestDone()
	}
	if len(batch) == 0 {
		return
	}
	cs.touch()
	if cs.paused.Swap(false) {
		_ = cs.gc.Wake(nil)
	}
}

func releasePieces(pieces []Piece) {
	for _, p := range pieces {
		if p.Release != nil {
			p.Release()
		}
	}
}

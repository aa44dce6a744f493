package netio

import (
	"context"
	"encoding/binary"
	"errors"
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
	gc   gnet.Conn // only concurrency-safe methods (Close) off the loop
	info Conn

	ctx    context.Context // ends when the connection closes
	cancel context.CancelFunc

	// On the loop: the frame being received and the bytes left in gnet's
	// buffer that the budget counts.
	framer  framer
	charged int64

	// readyMu guards the whole frames waiting for the worker (appended by
	// the loop; taken by whoever finds the connection free: the loop, the
	// worker done with a request, the writer having drained the queue),
	// their bytes, busy's changes and frames' closing.
	readyMu      sync.Mutex
	ready        []dispatched
	readyBytes   int64
	framesClosed bool
	frames       chan dispatched // to the worker; one slot: one request in flight
	busy         atomic.Bool     // a frame is with the worker

	nc         net.Conn     // dup of the socket, in Go's netpoller; written only through w
	lastActive atomic.Int64 // unix nanoseconds of the last request or completed response

	mu          sync.Mutex
	queue       []*response
	closed      bool
	writing     bool          // the writer goroutine or the worker is sending; it owns w
	wake        chan struct{} // one slot: the queue changed, writing ended, or closed
	queuedBytes atomic.Int64  // queued or being sent
	w           writer
}

// dispatched is a whole request frame on its way from the loop to the
// worker, with the time the loop handed it over.
type dispatched struct {
	frame *[]byte
	at    time.Time
}

// response is one queued response: its size prefix and pieces, or a
// marker that closes the connection once everything before it is sent
// (closeConn; with pieces, once they are sent too).
type response struct {
	hdr       [frameHeaderBytes]byte
	pieces    []Piece
	bytes     int64 // on the wire, prefix included
	closeConn bool
}

// inlineBytesMax bounds the responses a worker sends itself (see push).
const inlineBytesMax = 64 << 10

// inline reports whether the worker may send r itself: small, and all in
// memory, so the send neither reads a file nor takes long.
func (r *response) inline() bool {
	if r.closeConn || r.bytes > inlineBytesMax {
		return false
	}
	for _, p := range r.pieces {
		if p.File != nil {
			return false
		}
	}
	return true
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
		info:   Conn{ID: s.nextID.Add(1), RemoteAddr: nc.RemoteAddr(), LocalAddr: nc.LocalAddr(), Listener: s.cfg.Name},
		ctx:    ctx,
		cancel: cancel,
		frames: make(chan dispatched, 1),
		nc:     nc,
		wake:   make(chan struct{}, 1),
		w:      writer{rc: rc, stats: &s.stats, copyRegionMax: s.cfg.CopyRegionBytesMax},
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

// receivingFor is how long the frame being received has been arriving (0
// between frames).
func (cs *connState) receivingFor(now time.Time) time.Duration {
	since := cs.framer.since.Load()
	if since == 0 {
		return 0
	}
	return now.Sub(time.Unix(0, since))
}

// dispatchNext hands the worker the next ready frame if the connection is
// free: no request in flight and the writer queue within
// MaxInflightBytes. Whoever may have freed it calls it (the loop after
// framing, the worker after queueing a response, the writer after
// sending), so no frame waits for an event-loop wake-up. busy is cleared
// when there is nothing to hand over. Only the worker, whose request has
// just ended, calls it directly; the others go through dispatchIfIdle.
// It reports whether it handed one over.
func (cs *connState) dispatchNext() (handed bool) {
	cs.readyMu.Lock()
	defer cs.readyMu.Unlock()
	return cs.dispatchLocked()
}

// dispatchIfIdle is dispatchNext unless a request is in flight: its
// worker dispatches the next one when done. busy is read again under
// readyMu: the loop and the writer may both find it clear, and the second
// to take the lock must not hand over a second frame (the worker would
// later block on its own send into the full channel, holding readyMu, and
// the loop with it).
func (cs *connState) dispatchIfIdle() {
	if cs.busy.Load() {
		return
	}
	cs.readyMu.Lock()
	defer cs.readyMu.Unlock()
	if !cs.busy.Load() {
		cs.dispatchLocked()
	}
}

// dispatchLocked is dispatchNext's body; readyMu is held.
func (cs *connState) dispatchLocked() (handed bool) {
	limit := cs.s.cfg.MaxInflightBytes
	for len(cs.ready) > 0 && !cs.framesClosed && (limit <= 0 || cs.queuedBytes.Load() <= limit) {
		d := cs.ready[0]
		cs.ready = cs.ready[1:]
		cs.readyBytes -= int64(len(*d.frame))
		if !cs.s.beginRequest() {
			cs.s.releaseFrame(d.frame) // shutting down: the client gets no answer, as if unread
			continue
		}
		cs.busy.Store(true)
		cs.touch()
		cs.frames <- d // never blocks: busy was clear, so the worker took the last frame
		return true
	}
	cs.busy.Store(false)
	return false
}

// serve is the worker goroutine: it runs the handler for each frame, queues
// the response and lets the loop dispatch the next frame.
func (cs *connState) serve() {
	defer cs.s.workers.Done()
	var held heldResponses
	defer held.flush(cs)
	for d := range cs.frames {
		if cs.ctx.Err() != nil {
			held.flush(cs)
			cs.s.releaseFrame(d.frame)
			cs.s.requestDone()
			continue
		}
		cs.info.Queued = time.Since(d.at)
		pieces, err := cs.s.handler.ServeFrame(cs.ctx, &cs.info, *d.frame)
		cs.s.releaseFrame(d.frame)
		mute, delayResponse := cs.info.takeMute()
		if delayResponse {
			held.flush(cs)
			waitMuted(cs.ctx, mute)
			mute = 0
		}
		var r *response
		if err == nil {
			r, err = newResponse(pieces)
		} else if errors.Is(err, ErrCloseAfterResponse) && pieces != nil {
			if r, _ = newResponse(pieces); r != nil {
				cs.s.log.Info("closing connection after the response", "conn", cs.info.ID, "remote", cs.info.RemoteAddr, "err", err)
				r.closeConn = true // sent, then the connection closes
				held.flush(cs)
				cs.push(r, false)
				continue // busy stays set: nothing more is dispatched
			}
		}
		if err != nil {
			// Close once the responses already queued are sent.
			cs.s.log.Warn("closing connection", "conn", cs.info.ID, "remote", cs.info.RemoteAddr, "err", err)
			releasePieces(pieces)
			held.flush(cs)
			cs.push(&response{closeConn: true}, false)
			continue // busy stays set: nothing more is dispatched
		}
		if r == nil {
			cs.s.requestDone()
		} else if cs.push(r, len(held.rs) > 0) {
			held.take(r)
		}
		if mute > 0 {
			// Muted: busy stays set, so nothing more is dispatched (gnet
			// cannot stop reading the socket; what arrives meanwhile waits
			// in the ready queue, bounded by MaxBufferedRequestBytes).
			held.flush(cs)
			waitMuted(cs.ctx, mute)
		}
		if held.bytes >= inlineBytesMax {
			held.flush(cs)
		}
		if !cs.dispatchNext() {
			// Nothing waits: send now. The write's completion dispatches
			// whatever the loop readies meanwhile.
			held.flush(cs)
		}
	}
}

// heldResponses are small in-memory responses the worker holds the right
// to send (push returned sendNow) and keeps while the client's next request
// is already waiting, so that a pipelining client's responses leave in one
// sendmsg rather than one each: at 50,000 x 1 KiB/s franz-go sends ~1.4
// records per Produce request with several in flight, and each syscall is
// several µs on a VM. A response is held at most while the requests
// dispatched behind it are served, and never while the worker waits on
// anything else (a mute, a full queue, an empty ready queue).
type heldResponses struct {
	rs    []*response
	bytes int64
}

// take holds r, which push let the worker send.
func (h *heldResponses) take(r *response) {
	h.rs = append(h.rs, r)
	h.bytes += r.bytes
}

// flush sends the held responses and gives up the right to send.
func (h *heldResponses) flush(cs *connState) {
	if len(h.rs) == 0 {
		return
	}
	cs.write(h.rs)
	clear(h.rs)
	h.rs, h.bytes = h.rs[:0], 0
	if cs.doneWriting() {
		cs.signal()
	}
}

// newResponse frames pieces as one response (nil: no response). It fails if
// the response cannot be framed.
func newResponse(pieces []Piece) (*response, error) {
	if pieces == nil {
		return nil, nil
	}
	var size int64
	for _, p := range pieces {
		if p.File != nil && (p.Offset < 0 || p.Length < 0) {
			return nil, fmt.Errorf("%w: %s@%d+%d", ErrBadRegion, p.File.Name(), p.Offset, p.Length)
		}
		size += p.Len()
	}
	if size > math.MaxInt32 {
		return nil, fmt.Errorf("%w: %d bytes", ErrResponseTooLarge, size)
	}
	r := &response{pieces: pieces, bytes: frameHeaderBytes + size}
	binary.BigEndian.PutUint32(r.hdr[:], uint32(size))
	return r, nil
}

// push queues r for the writer goroutine, or completes it at once if the
// connection is closed. It returns true, queueing nothing, if the caller
// should send r itself (then call doneWriting): r is small and in memory,
// nothing is queued, and nothing is being sent or the caller is the one
// holding the right to send (holding: its held responses), so handing r to
// the writer goroutine would only add a goroutine switch to its latency.
// A response queued behind held ones waits for their flush: the writer
// takes the queue only once the worker has given up the right to send.
func (cs *connState) push(r *response, holding bool) (sendNow bool) {
	cs.mu.Lock()
	if cs.closed {
		cs.mu.Unlock()
		cs.complete([]*response{r})
		return false
	}
	cs.queuedBytes.Add(r.bytes)
	if r.inline() && len(cs.queue) == 0 && (holding || !cs.writing) {
		cs.writing = true
		cs.mu.Unlock()
		return true
	}
	cs.queue = append(cs.queue, r)
	cs.mu.Unlock()
	cs.signal()
	return false
}

// doneWriting gives up the right to send; it reports whether the writer
// goroutine has work (queued responses, or a close to handle).
func (cs *connState) doneWriting() bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.writing = false
	return len(cs.queue) > 0 || cs.closed
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

// next blocks until responses are queued and nobody is sending, then takes
// them all and the right to send; nil once the connection is closed
// (dropping whatever was still queued).
func (cs *connState) next() []*response {
	for {
		cs.mu.Lock()
		if !cs.writing {
			batch := cs.queue
			cs.queue = nil
			if cs.closed {
				cs.mu.Unlock()
				cs.complete(batch)
				return nil
			}
			if len(batch) > 0 {
				cs.writing = true
				cs.mu.Unlock()
				return batch
			}
		}
		cs.mu.Unlock()
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
	cs.dispatchIfIdle()
}

func releasePieces(pieces []Piece) {
	for _, p := range pieces {
		if p.Release != nil {
			p.Release()
		}
	}
}

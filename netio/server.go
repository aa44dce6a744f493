package netio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Server is the listener: one accepting goroutine, gnet event loops for
// reads and framing.
type Server struct {
	cfg     Config
	handler Handler
	log     *slog.Logger
	ln      *net.TCPListener
	loops   *gnet.Client // the event loops; accepted sockets are enrolled into them

	acceptDone chan struct{} // closed when the accept loop returns
	acceptErr  atomic.Pointer[acceptFailure]
	refusedLog atomic.Int64 // unix nanoseconds of the last "refused" log line

	requestBytes budget // QueuedMaxRequestBytes

	nextID atomic.Uint64
	mu     sync.Mutex
	conns  map[*connState]struct{}
	// tlsConns are the connections of a TLS listener (Config.TLS).
	tlsConns map[*tlsConn]struct{}

	// Shutdown: draining stops new requests; pending counts requests
	// dispatched and not yet answered (response sent or dropped).
	draining  atomic.Bool
	pending   atomic.Int64
	drained   chan struct{}
	drainOnce sync.Once
	stopOnce  sync.Once
	workers   sync.WaitGroup // per-connection worker and writer goroutines

	stats counters
}

type counters struct {
	sendfile, copied, written, stalls atomic.Int64
	sends                             atomic.Int64
	busyNs                            atomic.Int64 // event-loop callback time
	acceptErrors, refused             atomic.Int64
}

// acceptFailure is the last failed accept and when it happened.
type acceptFailure struct {
	err error
	at  time.Time
}

const (
	// acceptBackoffMax caps the pause after a failed accept (EMFILE and
	// the like), as net/http does: the listener stays, connections wait
	// in the backlog until descriptors are free again.
	acceptBackoffMax = time.Second
	// acceptFailingFor is how long after a failed accept Accepting
	// reports the listener as failing: longer than the backoff, so a
	// listener stuck in a fail-and-retry cycle never reads as healthy.
	acceptFailingFor = 2 * acceptBackoffMax
	// refusedLogEvery rate-limits the log line for refused connections,
	// which come in floods.
	refusedLogEvery = 10 * time.Second
)

// eventLoops is the number of event loops to run: configured, or one per
// cpusPerEventLoop Ps. A loop waiting in epoll_wait holds its P inside a
// syscall, and while another P has work the runtime's monitor retakes it,
// keeping itself on a 20 µs wake-up cycle. At 50,000 x 1 KiB produce/s on
// 2 CPUs, two loops spent 15% of broker CPU in that monitor and one loop
// under 1%; one loop also used 12% less CPU per GB (3 runs each).
func eventLoops(configured, procs int) int {
	if configured > 0 {
		return configured
	}
	return max(1, procs/cpusPerEventLoop)
}

// cpusPerEventLoop sets the default loop count; one loop reads far more
// than a CPU's worth of handlers can serve.
const cpusPerEventLoop = 4

// Listen binds the address and starts the event loops; it returns once
// the listener is bound.
//
// The port is bound exclusively (SO_REUSEADDR, no SO_REUSEPORT), so a port
// that any other socket listens on fails with EADDRINUSE
// ("listen 127.0.0.1:9092: address already in use") instead of the kernel
// spreading clients over two processes. One goroutine accepts and enrolls
// each socket into the least loaded event loop, so reads stay multicore.
func Listen(cfg Config, h Handler) (*Server, error) {
	cfg = cfg.withDefaults()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		// Go's "listen tcp 127.0.0.1:9092: bind: address already in use"
		// loses nothing by naming just the address and the cause.
		var errno syscall.Errno
		if errors.As(err, &errno) {
			err = errno
		}
		return nil, fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	s := &Server{
		cfg:        cfg,
		handler:    h,
		log:        cfg.Logger.With("component", "netio"),
		ln:         ln.(*net.TCPListener),
		acceptDone: make(chan struct{}),
		conns:      make(map[*connState]struct{}),
		tlsConns:   make(map[*tlsConn]struct{}),
		drained:    make(chan struct{}),
	}
	s.requestBytes.limit = cfg.QueuedMaxRequestBytes
	s.loops, err = gnet.NewClient(&events{s: s},
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(eventLoops(cfg.EventLoops, runtime.GOMAXPROCS(0))),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithTicker(true),
		gnet.WithLogger(gnetLogger{s.log}))
	if err == nil {
		err = s.loops.Start()
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("listen %s: event loops: %w", cfg.Addr, err)
	}
	go s.acceptLoop()
	s.log.Info("listening", "addr", s.ln.Addr().String(), "listener", cfg.Name, "tls", cfg.TLS != nil,
		"max_connections", cfg.MaxConnections)
	return s, nil
}

// acceptLoop accepts until the listener is closed. A failed accept never
// ends it: it backs off and retries, since the usual cause (EMFILE, ENFILE,
// ENOBUFS) passes once connections or files close.
func (s *Server) acceptLoop() {
	defer close(s.acceptDone)
	var backoff time.Duration
	for {
		nc, err := s.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			backoff = min(max(2*backoff, 5*time.Millisecond), acceptBackoffMax)
			s.stats.acceptErrors.Add(1)
			if prev := s.acceptErr.Swap(&acceptFailure{err: err, at: time.Now()}); prev == nil || time.Since(prev.at) > acceptFailingFor {
				s.log.Error("accept failed; retrying", "err", err, "backoff", backoff)
			}
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.admit(nc)
	}
}

// admit hands an accepted socket to an event loop, or closes it at once if
// the server is full or shutting down. Enrolling waits for OnOpen, so the
// connection count it checks is exact.
func (s *Server) admit(nc net.Conn) {
	if s.draining.Load() {
		nc.Close()
		return
	}
	if limit := s.cfg.MaxConnections; limit > 0 && s.connCount() >= limit {
		nc.Close()
		s.stats.refused.Add(1)
		now := time.Now().UnixNano()
		if last := s.refusedLog.Load(); now-last > int64(refusedLogEvery) && s.refusedLog.CompareAndSwap(last, now) {
			s.log.Warn("refusing connections: max connections reached", "max", limit,
				"refused_total", s.stats.refused.Load())
		}
		return
	}
	if s.cfg.TLS != nil {
		s.admitTLS(nc)
		return
	}
	if _, err := s.loops.Enroll(nc); err != nil { // Enroll closes nc; gnet keeps a dup
		s.log.Warn("closing new connection", "remote", nc.RemoteAddr().String(), "err", err)
	}
}

// Accepting reports whether the listener takes connections: nil, or why
// not (closed, or an accept failed recently).
func (s *Server) Accepting() error {
	select {
	case <-s.acceptDone:
		return errors.New("kafka listener closed")
	default:
	}
	if f := s.acceptErr.Load(); f != nil && time.Since(f.at) < acceptFailingFor {
		return fmt.Errorf("kafka listener %s: accept failed %v ago: %w",
			s.ln.Addr(), time.Since(f.at).Round(time.Millisecond), f.err)
	}
	return nil
}

// MaxConnections is the effective connection limit (0: none).
func (s *Server) MaxConnections() int { return s.cfg.MaxConnections }

// Addr is the bound address (useful with port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Stats reads the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Connections:   int64(s.connCount()),
		BytesSendfile: s.stats.sendfile.Load(),
		BytesCopied:   s.stats.copied.Load(),
		BytesWritten:  s.stats.written.Load(),
		Sends:         s.stats.sends.Load(),
		WriteStalls:   s.stats.stalls.Load(),
		EventLoopBusy: time.Duration(s.stats.busyNs.Load()),
		AcceptErrors:  s.stats.acceptErrors.Load(),
		Refused:       s.stats.refused.Load(),
		RequestBytes:  s.requestBytes.used.Load(),
	}
}

// Shutdown stops accepting, lets in-flight requests finish and their
// responses be written (until ctx ends), then closes all connections.
// Frames that arrive after Shutdown starts are not served. It returns
// ctx's error, wrapped, if the drain or the close did not finish in time.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	_ = s.ln.Close()
	<-s.acceptDone // at most one backoff pause
	if s.pending.Load() == 0 {
		s.signalDrained()
	}
	var drainErr error
	select {
	case <-s.drained:
	case <-ctx.Done():
		drainErr = fmt.Errorf("netio shutdown: drain: %w", ctx.Err())
	}
	s.stopOnce.Do(s.stopLoops)

	exited := make(chan struct{})
	go func() {
		s.workers.Wait()
		close(exited)
	}()
	select {
	case <-exited:
	case <-ctx.Done():
		return errors.Join(drainErr, fmt.Errorf("netio shutdown: handlers still running: %w", ctx.Err()))
	}
	return drainErr
}

// stopLoops stops the event loops; by the time it returns every
// connection got its OnClose.
func (s *Server) stopLoops() {
	if err := s.loops.Stop(); err != nil {
		s.log.Warn("event loops stopped", "err", err)
	}
	s.mu.Lock()
	for c := range s.tlsConns {
		c.close()
	}
	s.mu.Unlock()
}

// beginRequest counts a dispatched request, or refuses it while draining.
func (s *Server) beginRequest() bool {
	s.pending.Add(1)
	if s.draining.Load() {
		s.requestDone()
		return false
	}
	return true
}

// requestDone marks one request answered (or dropped).
func (s *Server) requestDone() {
	if s.pending.Add(-1) == 0 && s.draining.Load() {
		s.signalDrained()
	}
}

func (s *Server) signalDrained() { s.drainOnce.Do(func() { close(s.drained) }) }

func (s *Server) addConn(cs *connState) {
	s.mu.Lock()
	s.conns[cs] = struct{}{}
	s.mu.Unlock()
}

func (s *Server) connCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns) + len(s.tlsConns)
}

func (s *Server) removeConn(cs *connState) {
	s.mu.Lock()
	delete(s.conns, cs)
	s.mu.Unlock()
}

// releaseFrame returns a frame's buffer and its bytes in the budget.
func (s *Server) releaseFrame(frame *[]byte) {
	s.requestBytes.charge(-int64(len(*frame)))
	putBuf(frame)
}

// closeStale closes connections that have had no request for IdleTimeout
// and have nothing in flight, and those whose frame has been arriving for
// longer than RequestTimeout.
func (s *Server) closeStale(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for cs := range s.conns {
		switch {
		case s.cfg.IdleTimeout > 0 && cs.idleFor(now) > s.cfg.IdleTimeout:
			s.log.Info("closing idle connection", "conn", cs.info.ID, "remote", cs.info.RemoteAddr)
			_ = cs.gc.Close()
		case s.cfg.RequestTimeout > 0 && cs.receivingFor(now) > s.cfg.RequestTimeout:
			s.log.Warn("closing connection: request frame incomplete", "conn", cs.info.ID,
				"remote", cs.info.RemoteAddr, "after", s.cfg.RequestTimeout)
			_ = cs.gc.Close()
		}
	}
}

package netio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Server is the gnet-based listener.
type Server struct {
	cfg     Config
	handler Handler
	log     *slog.Logger
	addr    *net.TCPAddr

	eng      gnet.Engine   // set in OnBoot, before booted closes
	booted   chan struct{} // closed at the first tick: every loop is listening
	bootOnce sync.Once
	runDone  chan struct{} // closed when gnet.Run returns
	runErr   error         // gnet.Run's result, read after runDone

	nextID atomic.Uint64
	mu     sync.Mutex
	conns  map[*connState]struct{}

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
	busyNs                            atomic.Int64 // event-loop callback time
}

// Listen starts the event loops; it returns once the listener is bound.
//
// Every event loop has its own SO_REUSEPORT listener on the same port. gnet
// binds each loop's listener from the address string, so port 0 would give
// each loop a different port; Listen therefore first binds (without
// listening) a SO_REUSEPORT placeholder socket to resolve the port, hands
// gnet that concrete port, and closes the placeholder once gnet's listeners
// are bound. The placeholder holds the port meanwhile, so there is no race
// with other processes; it never listens, so it never takes connections.
// As with any SO_REUSEPORT listener, another process of the same user that
// binds the port with SO_REUSEPORT would share its connections.
func Listen(cfg Config, h Handler) (*Server, error) {
	cfg = cfg.withDefaults()
	placeholder, addr, err := reservePort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("netio listen %s: %w", cfg.Addr, err)
	}
	defer unix.Close(placeholder)

	s := &Server{
		cfg:     cfg,
		handler: h,
		log:     cfg.Logger.With("component", "netio"),
		addr:    addr,
		booted:  make(chan struct{}),
		runDone: make(chan struct{}),
		conns:   make(map[*connState]struct{}),
		drained: make(chan struct{}),
	}
	opts := []gnet.Option{
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(cfg.EventLoops),
		gnet.WithReusePort(true),
		gnet.WithReuseAddr(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithTicker(true),
		gnet.WithLogger(gnetLogger{s.log}),
	}
	go func() {
		defer close(s.runDone)
		s.runErr = gnet.Run(&events{s: s}, "tcp://"+addr.String(), opts...)
	}()
	select {
	case <-s.booted:
		s.log.Info("listening", "addr", addr.String())
		return s, nil
	case <-s.runDone:
		return nil, fmt.Errorf("netio listen %s: %w", addr, s.runErr)
	}
}

// reservePort binds a SO_REUSEPORT TCP socket to address without listening
// and returns it with the address it got (the real port for port 0).
func reservePort(address string) (int, *net.TCPAddr, error) {
	tcpAddr, err := net.ResolveTCPAddr("tcp", address)
	if err != nil {
		return -1, nil, err
	}
	ip4 := tcpAddr.IP.To4()
	if tcpAddr.IP == nil {
		ip4 = net.IPv4zero.To4()
	}
	family := unix.AF_INET6
	var sa unix.Sockaddr
	if ip4 != nil {
		family = unix.AF_INET
		sa4 := &unix.SockaddrInet4{Port: tcpAddr.Port}
		copy(sa4.Addr[:], ip4)
		sa = sa4
	} else {
		sa6 := &unix.SockaddrInet6{Port: tcpAddr.Port}
		copy(sa6.Addr[:], tcpAddr.IP.To16())
		sa = sa6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, nil, fmt.Errorf("socket: %w", err)
	}
	if err := bindReusePort(fd, sa); err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("getsockname: %w", err)
	}
	switch b := bound.(type) {
	case *unix.SockaddrInet4:
		return fd, &net.TCPAddr{IP: net.IP(b.Addr[:]).To16(), Port: b.Port}, nil
	case *unix.SockaddrInet6:
		return fd, &net.TCPAddr{IP: net.IP(b.Addr[:]), Port: b.Port}, nil
	}
	unix.Close(fd)
	return -1, nil, fmt.Errorf("getsockname: unexpected %T", bound)
}

func bindReusePort(fd int, sa unix.Sockaddr) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return fmt.Errorf("SO_REUSEPORT: %w", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	return nil
}

// Addr is the bound address (useful with port 0).
func (s *Server) Addr() net.Addr { return s.addr }

// Stats reads the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	conns := int64(len(s.conns))
	s.mu.Unlock()
	return Stats{
		Connections:   conns,
		BytesSendfile: s.stats.sendfile.Load(),
		BytesCopied:   s.stats.copied.Load(),
		BytesWritten:  s.stats.written.Load(),
		WriteStalls:   s.stats.stalls.Load(),
		EventLoopBusy: time.Duration(s.stats.busyNs.Load()),
	}
}

// Shutdown stops accepting, lets in-flight requests finish and their
// responses be written (until ctx ends), then closes all connections.
// Frames that arrive after Shutdown starts are not served. It returns
// ctx's error, wrapped, if the drain or the close did not finish in time.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	if s.pending.Load() == 0 {
		s.signalDrained()
	}
	var drainErr error
	select {
	case <-s.drained:
	case <-ctx.Done():
		drainErr = fmt.Errorf("netio shutdown: drain: %w", ctx.Err())
	}
	s.stopOnce.Do(s.stopEngine)

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

// stopEngine stops gnet and waits for gnet.Run to return, by which time
// every connection got its OnClose. Engine.Stop polls for completion every
// 500 ms, so it is cut short as soon as Run returns.
func (s *Server) stopEngine() {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-s.runDone
		cancel()
	}()
	if err := s.eng.Stop(ctx); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("stopping event loops", "err", err)
	}
	<-s.runDone
	if s.runErr != nil {
		s.log.Warn("event loops stopped", "err", s.runErr)
	}
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

// addConn registers cs unless MaxConnections is reached.
func (s *Server) addConn(cs *connState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if limit := s.cfg.MaxConnections; limit > 0 && len(s.conns) >= limit {
		return false
	}
	s.conns[cs] = struct{}{}
	return true
}

func (s *Server) removeConn(cs *connState) {
	s.mu.Lock()
	delete(s.conns, cs)
	s.mu.Unlock()
}

// closeIdle closes connections that have had no request for IdleTimeout
// and have nothing in flight.
func (s *Server) closeIdle(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for cs := range s.conns {
		if cs.idleFor(now) > s.cfg.IdleTimeout {
			s.log.Info("closing idle connection", "conn", cs.info.ID, "remote", cs.info.RemoteAddr)
			_ = cs.gc.Close()
		}
	}
}

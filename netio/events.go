package netio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// events is the gnet.EventHandler; its methods run on event loops (OnTick
// on gnet's ticker goroutine) and must never block.
type events struct {
	gnet.BuiltinEventEngine
	s *Server
}

// OnTick closes idle connections and those whose frame arrives too slowly.
func (e *events) OnTick() (time.Duration, gnet.Action) {
	s := e.s
	period := time.Hour
	for _, limit := range []time.Duration{s.cfg.IdleTimeout, s.cfg.RequestTimeout} {
		if limit > 0 {
			period = min(period, max(limit/4, time.Millisecond))
		}
	}
	s.closeStale(time.Now())
	return period, gnet.None
}

func (e *events) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	s := e.s
	defer s.busySince(time.Now())
	if s.draining.Load() {
		return nil, gnet.Close
	}
	cs, err := newConnState(s, gc)
	if err != nil {
		s.log.Warn("closing new connection", "remote", gc.RemoteAddr().String(), "err", err)
		return nil, gnet.Close
	}
	s.addConn(cs)
	gc.SetContext(cs)
	s.workers.Add(2)
	go cs.serve()
	go cs.writeLoop()
	return nil, gnet.None
}

func (e *events) OnClose(gc gnet.Conn, err error) gnet.Action {
	defer e.s.busySince(time.Now())
	cs, _ := gc.Context().(*connState)
	if cs == nil {
		return gnet.None // refused in OnOpen
	}
	e.s.removeConn(cs)
	if frame := cs.framer.take(); frame != nil {
		e.s.releaseFrame(frame)
	}
	cs.readyMu.Lock()
	cs.framesClosed = true
	close(cs.frames) // dispatchNext sends only while framesClosed is false
	for _, d := range cs.ready {
		e.s.releaseFrame(d.frame)
	}
	cs.ready = nil
	cs.readyMu.Unlock()
	e.s.requestBytes.charge(-cs.charged)
	cs.markClosed()
	e.s.log.Debug("connection closed", "conn", cs.info.ID, "remote", cs.info.RemoteAddr, "err", err)
	return gnet.None
}

// OnTraffic takes every whole frame out of gnet's inbound buffer (whose
// ring buffers grow to what they hold and are pooled at that size, so
// bytes left there would keep memory long after) into the connection's
// ready queue, and hands the worker the first if it is free. One frame is
// in flight at a time (as Kafka does): the worker takes the next itself
// once it has queued the response, so the loop is not woken per request.
// Frames are stamped with the start of the call that found them whole: it
// never blocks. The few bytes left in gnet's buffer are counted in the
// server's request-bytes budget.
func (e *events) OnTraffic(gc gnet.Conn) gnet.Action {
	s := e.s
	start := time.Now()
	defer s.busySince(start)
	cs, _ := gc.Context().(*connState)
	if cs == nil {
		return gnet.Close
	}
	if action := e.dispatch(gc, cs, start); action != gnet.None {
		return action
	}
	if cs.busy.Load() {
		// The worker just readied sits in this P's run queue. gnet blocks
		// in epoll_wait next, holding the P, and yields first only once
		// per poll cycle; when that one yield picks the loop again (the
		// scheduler takes its global queue first every 61st time), the
		// worker waits until the runtime's monitor retakes the P: up to
		// 20 ms where the loop holds the only P (traced, one CPU). A
		// second yield here runs it first.
		runtime.Gosched()
	}
	buffered := int64(gc.InboundBuffered())
	over := s.requestBytes.charge(buffered - cs.charged)
	cs.charged = buffered
	if over && buffered > 0 {
		s.log.Warn("closing connection: request bytes in memory over the limit", "conn", cs.info.ID,
			"remote", cs.info.RemoteAddr, "buffered", buffered, "max", s.cfg.QueuedMaxRequestBytes)
		return gnet.Close
	}
	return gnet.None
}

// dispatch frames the connection's inbound bytes into its ready queue and
// hands the worker the first ready frame when it is free.
func (e *events) dispatch(gc gnet.Conn, cs *connState, start time.Time) gnet.Action {
	s := e.s
	reserve := func(n int) bool { return s.requestBytes.take(int64(n)) }
	defer cs.dispatchIfIdle()
	for gc.InboundBuffered() > 0 {
		frame, err := cs.framer.next(gc, s.cfg.MaxRequestBytes, start.UnixNano(), reserve)
		if errors.Is(err, ErrTLSOnPlaintext) {
			s.log.Warn("closing connection: a TLS client on a plaintext listener", "conn", cs.info.ID,
				"remote", cs.info.RemoteAddr, "listener", s.cfg.Name)
			cs.sendAlert()
			return gnet.Close
		}
		if err != nil {
			s.log.Warn("closing connection: bad frame", "conn", cs.info.ID, "remote", cs.info.RemoteAddr, "err", err)
			return gnet.Close
		}
		if frame == nil {
			return gnet.None // the rest of the frame is still to come
		}
		cs.readyMu.Lock()
		cs.ready = append(cs.ready, dispatched{frame: frame, at: start})
		cs.readyBytes += int64(len(*frame))
		limit := s.cfg.MaxBufferedRequestBytes
		over := limit > 0 && len(cs.ready) > 1 && cs.readyBytes > limit
		readyBytes := cs.readyBytes
		cs.readyMu.Unlock()
		if over {
			s.log.Warn("closing connection: too many buffered request bytes",
				"conn", cs.info.ID, "remote", cs.info.RemoteAddr, "bytes", readyBytes, "max", limit)
			return gnet.Close
		}
	}
	return gnet.None
}

// busySince adds the time since start (taken on entering a callback) to
// the event loops' busy time.
func (s *Server) busySince(start time.Time) { s.stats.busyNs.Add(int64(time.Since(start))) }

// gnetLogger routes gnet's own log lines to slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) logf(level slog.Level, format string, args []any) {
	if g.l.Enabled(context.Background(), level) {
		g.l.Log(context.Background(), level, fmt.Sprintf(format, args...), "from", "gnet")
	}
}

func (g gnetLogger) Debugf(format string, args ...any) { g.logf(slog.LevelDebug, format, args) }
func (g gnetLogger) Infof(format string, args ...any)  { g.logf(slog.LevelDebug, format, args) }
func (g gnetLogger) Warnf(format string, args ...any)  { g.logf(slog.LevelWarn, format, args) }
func (g gnetLogger) Errorf(format string, args ...any) { g.logf(slog.LevelError, format, args) }

// Fatalf is only used by gnet's kqueue poller; on Linux it is logged as an error.
func (g gnetLogger) Fatalf(format string, args ...any) { g.logf(slog.LevelError, format, args) }

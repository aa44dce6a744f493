package netio

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A TLS listener (Config.TLS set) does not use the event loops: each
// connection gets one goroutine that runs the handshake, then reads a
// frame, serves it and writes the response, in turn. That is one request
// in flight, as on the plaintext path, and a client that sends faster than
// it is served is held back by TCP, not by closing. Responses take the copy
// path: file regions are read with pread into the TLS writer's buffer (no
// kernel TLS on the machines this runs on, so sendfile cannot carry
// encrypted bytes; tlsConn.send is the seam where a kTLS sendfile would go).

// tlsWriteBufferBytes is the TLS writer's buffer: about four TLS records,
// so a large response goes out in full-size records.
const tlsWriteBufferBytes = 64 << 10

// tlsHandshakeTimeout bounds the handshake when Config.RequestTimeout is 0.
const tlsHandshakeTimeout = 10 * time.Second

// tlsConn is one TLS client connection.
type tlsConn struct {
	s    *Server
	tc   *tls.Conn
	info Conn
	ctx  context.Context
	stop context.CancelFunc
	bw   *bufio.Writer
	// muted is how long to read nothing before the next frame (Conn.Mute);
	// only the connection's goroutine touches it.
	muted time.Duration

	mu         sync.Mutex
	lastActive time.Time
	busy       bool
}

// admitTLS starts the goroutine serving a TLS connection.
func (s *Server) admitTLS(nc net.Conn) {
	ctx, stop := context.WithCancel(context.Background())
	tc := tls.Server(nc, s.cfg.TLS)
	c := &tlsConn{s: s, tc: tc, ctx: ctx, stop: stop, lastActive: time.Now(),
		info: Conn{ID: s.nextID.Add(1), RemoteAddr: nc.RemoteAddr(), LocalAddr: nc.LocalAddr(), Listener: s.cfg.Name},
		bw:   bufio.NewWriterSize(tc, tlsWriteBufferBytes)}
	s.mu.Lock()
	s.tlsConns[c] = struct{}{}
	s.mu.Unlock()
	s.workers.Add(1)
	go c.serve()
}

func (c *tlsConn) close() {
	c.stop()
	_ = c.tc.Close()
}

// serve runs the connection until the client leaves, a deadline passes, a
// frame is bad or the server shuts down.
func (c *tlsConn) serve() {
	s := c.s
	defer s.workers.Done()
	defer func() {
		s.mu.Lock()
		delete(s.tlsConns, c)
		s.mu.Unlock()
		c.close()
	}()
	handshakeTimeout := s.cfg.RequestTimeout
	if handshakeTimeout <= 0 {
		handshakeTimeout = tlsHandshakeTimeout
	}
	hctx, cancel := context.WithTimeout(c.ctx, handshakeTimeout)
	err := c.tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		s.log.Info("closing connection: TLS handshake failed", "conn", c.info.ID, "remote", c.info.RemoteAddr, "err", err)
		return
	}
	state := c.tc.ConnectionState()
	c.info.TLS = &state
	br := bufio.NewReaderSize(c.tc, 16<<10)
	for {
		err := c.serveOne(br)
		if err == nil {
			continue
		}
		level := slog.LevelWarn
		if c.ctx.Err() != nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isTimeout(err) {
			level = slog.LevelDebug
		}
		s.log.Log(context.Background(), level, "closing connection", "conn", c.info.ID, "remote", c.info.RemoteAddr, "err", err)
		return
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// serveOne reads one frame, serves it and writes its response.
func (c *tlsConn) serveOne(br *bufio.Reader) error {
	s := c.s
	waitMuted(c.ctx, c.muted)
	c.muted = 0
	if s.cfg.IdleTimeout > 0 {
		_ = c.tc.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
	}
	var hdr [frameHeaderBytes]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return fmt.Errorf("read frame header: %w", err)
	}
	size := int32(binary.BigEndian.Uint32(hdr[:]))
	switch {
	case size < 0:
		return fmt.Errorf("%w: %d", ErrFrameSizeNegative, size)
	case size > s.cfg.MaxRequestBytes:
		return fmt.Errorf("%w: %d > %d", ErrFrameTooLarge, size, s.cfg.MaxRequestBytes)
	case !s.requestBytes.take(int64(size)):
		return fmt.Errorf("%w: %d-byte frame", ErrRequestMemory, size)
	}
	frame := getBuf(int(size))
	defer s.releaseFrame(frame)
	if s.cfg.RequestTimeout > 0 {
		_ = c.tc.SetReadDeadline(time.Now().Add(s.cfg.RequestTimeout))
	}
	if _, err := io.ReadFull(br, *frame); err != nil {
		return fmt.Errorf("read %d-byte frame: %w", size, err)
	}
	if !s.beginRequest() {
		return errors.New("shutting down")
	}
	defer s.requestDone()
	c.setBusy(true)
	defer c.setBusy(false)
	pieces, err := s.handler.ServeFrame(c.ctx, &c.info, *frame)
	mute, delayResponse := c.info.takeMute()
	if delayResponse {
		waitMuted(c.ctx, mute)
	}
	if err == nil || (errors.Is(err, ErrCloseAfterResponse) && pieces != nil) {
		r, ferr := newResponse(pieces)
		if ferr == nil && r != nil {
			ferr = c.send(r)
		}
		if ferr != nil {
			err = ferr
		}
	}
	releasePieces(pieces)
	if !delayResponse {
		c.muted = mute // waited out before the next frame is read
	}
	return err
}

// send writes one response through the TLS writer, copying file regions.
func (c *tlsConn) send(r *response) error {
	if c.s.cfg.IdleTimeout > 0 {
		_ = c.tc.SetWriteDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
	}
	if _, err := c.bw.Write(r.hdr[:]); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	for _, p := range r.pieces {
		if p.File == nil {
			if _, err := c.bw.Write(p.Bytes); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			continue
		}
		for off, left := p.Offset, p.Length; left > 0; {
			if c.bw.Available() == 0 {
				if err := c.bw.Flush(); err != nil {
					return fmt.Errorf("write: %w", err)
				}
			}
			n := min(int64(c.bw.Available()), left)
			if err := readRegion(Piece{File: p.File, Offset: off, Length: n}, c.bw.AvailableBuffer()[:n]); err != nil {
				return err
			}
			_, _ = c.bw.Write(c.bw.AvailableBuffer()[:n]) // fits: no write happens
			c.s.stats.copied.Add(n)
			off, left = off+n, left-n
		}
	}
	if err := c.bw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	c.s.stats.written.Add(r.bytes)
	return nil
}

func (c *tlsConn) setBusy(busy bool) {
	c.mu.Lock()
	c.busy = busy
	c.lastActive = time.Now()
	c.mu.Unlock()
}

// TLS record header bytes of a ClientHello: content type handshake (22),
// then major version 3.
const (
	tlsRecordHandshake = 0x16
	tlsMajorVersion    = 0x03
)

// looksLikeTLS reports whether a connection's first four bytes are a TLS
// handshake record rather than a Kafka size prefix (which would read as a
// frame of about 369 MB).
func looksLikeTLS(hdr []byte) bool {
	return len(hdr) >= 3 && hdr[0] == tlsRecordHandshake && hdr[1] == tlsMajorVersion && hdr[2] <= 0x04
}

// tlsAlertHandshakeFailure is a fatal handshake_failure alert record: sent
// to a TLS client on a plaintext listener so it reports a TLS error rather
// than a dropped connection.
var tlsAlertHandshakeFailure = []byte{0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28}

// sendAlert writes tlsAlertHandshakeFailure on the loop without blocking:
// a connection's first write fits any socket buffer, and if it does not
// go out the client still sees the connection close.
func (cs *connState) sendAlert() {
	_ = cs.w.rc.Control(func(fd uintptr) {
		_, _ = unix.Write(int(fd), tlsAlertHandshakeFailure)
	})
}

package netio

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

const (
	// iovMax is Linux's UIO_MAXIOV: the most buffers one sendmsg takes.
	iovMax = 1024
	// copyRunBytes bounds the scratch buffer that small regions are copied
	// into before they go out in one sendmsg with their neighbours.
	copyRunBytes = 1 << 20
	// sendfileChunkMax keeps one sendfile call's count in int range on any
	// platform and well under Linux's 0x7ffff000 cap.
	sendfileChunkMax = 1 << 30
)

// writeLoop is the connection's writer goroutine: it sends the queued
// responses in order, batching whatever is queued into as few syscalls as
// the pieces allow. It never touches the event loop's copy of the socket.
func (cs *connState) writeLoop() {
	defer cs.s.workers.Done()
	for {
		batch := cs.next()
		if batch == nil {
			return
		}
		cs.write(batch)
		cs.doneWriting()
	}
}

// write sends batch with cs.w (the caller holds the right to send) and
// closes the connection after a write error or a close marker.
func (cs *connState) write(batch []*response) {
	closing, err := cs.w.send(batch)
	cs.complete(batch)
	if err != nil {
		cs.logWriteError(err)
	}
	if closing || err != nil {
		_ = cs.gc.Close()
		cs.markClosed()
	}
}

// logWriteError logs why the writer gave up: quietly when the connection
// was already closing or the client went away, loudly otherwise.
func (cs *connState) logWriteError(err error) {
	level := slog.LevelWarn
	if cs.ctx.Err() != nil || errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) {
		level = slog.LevelDebug
	}
	cs.s.log.Log(cs.ctx, level, "closing connection: write failed", "conn", cs.info.ID, "remote", cs.info.RemoteAddr, "err", err)
}

// writer sends pieces on a non-blocking socket through RawConn.Write: a
// callback that hits EAGAIN returns false and the goroutine parks on the
// netpoller until the socket is writable. Progress (offsets, remaining
// buffers) lives outside the callback, so a resumed call continues exactly
// where the last one stopped.
type writer struct {
	rc            syscall.RawConn
	stats         *counters
	copyRegionMax int64
	pieces        []Piece  // the batch flattened; reused
	bufs          [][]byte // one sendmsg's buffers; reused
}

// send writes the batch's responses back to back, up to a close marker; it
// reports whether it met one.
func (w *writer) send(batch []*response) (closing bool, err error) {
	for _, r := range batch {
		if r.closeConn && r.pieces == nil {
			closing = true
			break
		}
		w.pieces = append(w.pieces, Piece{Bytes: r.hdr[:]})
		w.pieces = append(w.pieces, r.pieces...)
		if r.closeConn {
			closing = true
			break
		}
	}
	defer func() {
		clear(w.pieces) // keep no file or buffer reachable past the batch
		w.pieces = w.pieces[:0]
	}()
	for i := 0; i < len(w.pieces); {
		if p := w.pieces[i]; w.useSendfile(p) {
			if err := w.sendRegion(p); err != nil {
				return closing, err
			}
			i++
			continue
		}
		n, err := w.writeRun(w.pieces[i:])
		if err != nil {
			return closing, err
		}
		i += n
	}
	return closing, nil
}

func (w *writer) useSendfile(p Piece) bool { return p.File != nil && p.Length > w.copyRegionMax }

// writeRun sends pieces[0] and the pieces after it that are bytes or small
// regions (copied with pread into a scratch buffer) in one sendmsg, with
// MSG_MORE when more pieces follow. It returns how many pieces it consumed
// (at least one: pieces[0] is never a sendfile region).
func (w *writer) writeRun(pieces []Piece) (int, error) {
	var scratch *[]byte
	defer func() {
		if scratch != nil {
			putBuf(scratch)
		}
	}()
	bufs := w.bufs[:0]
	n := 0
	for ; n < len(pieces) && len(bufs) < iovMax; n++ {
		p := pieces[n]
		if w.useSendfile(p) {
			break
		}
		if p.File == nil {
			if len(p.Bytes) > 0 {
				bufs = append(bufs, p.Bytes)
			}
			continue
		}
		if p.Length == 0 {
			continue
		}
		if scratch == nil {
			scratch = getBuf(int(max(copyRunBytes, p.Length)))
			*scratch = (*scratch)[:0]
		}
		used := len(*scratch)
		if used+int(p.Length) > cap(*scratch) {
			break // the next run copies it
		}
		region := (*scratch)[used : used+int(p.Length)]
		if err := readRegion(p, region); err != nil {
			return n, err
		}
		*scratch = (*scratch)[:used+len(region)]
		bufs = append(bufs, region)
		w.stats.copied.Add(p.Length)
	}
	err := w.writeBufs(bufs, n < len(pieces))
	clear(bufs)
	w.bufs = bufs[:0]
	return n, err
}

func readRegion(p Piece, dst []byte) error {
	if _, err := p.File.ReadAt(dst, p.Offset); err != nil {
		if errors.Is(err, io.EOF) {
			err = ErrRegionTruncated
		}
		return fmt.Errorf("copy region %s@%d+%d: %w", p.File.Name(), p.Offset, p.Length, err)
	}
	return nil
}

// writeBufs sends bufs with sendmsg until all are written.
func (w *writer) writeBufs(bufs [][]byte, more bool) error {
	flags := unix.MSG_NOSIGNAL
	if more {
		flags |= unix.MSG_MORE // the kernel holds a partial segment for what follows
	}
	for len(bufs) > 0 {
		var sent int
		var serr error
		err := w.rc.Write(func(fd uintptr) bool {
			sent, serr = retryEINTR(func() (int, error) { return unix.SendmsgBuffers(int(fd), bufs, nil, nil, flags) })
			return w.done(serr)
		})
		if err != nil {
			return fmt.Errorf("sendmsg: %w", err)
		}
		if serr != nil {
			return os.NewSyscallError("sendmsg", serr)
		}
		w.stats.written.Add(int64(sent))
		w.stats.sends.Add(1)
		bufs = advance(bufs, sent)
	}
	return nil
}

// advance drops the first n bytes from bufs.
func advance(bufs [][]byte, n int) [][]byte {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if len(bufs) > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs
}

// sendRegion sends a file region with sendfile at an explicit offset. The
// file's fd is held through SyscallConn, so a concurrent Close of the file
// cannot free the fd number under the syscall.
func (w *writer) sendRegion(p Piece) error {
	rc, err := p.File.SyscallConn()
	if err != nil {
		return fmt.Errorf("sendfile %s: %w", p.File.Name(), err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = w.sendfile(int(fd), p.Offset, p.Length) }); err != nil {
		return fmt.Errorf("sendfile %s: %w", p.File.Name(), err)
	}
	if serr != nil {
		return fmt.Errorf("sendfile %s@%d+%d: %w", p.File.Name(), p.Offset, p.Length, serr)
	}
	return nil
}

func (w *writer) sendfile(in int, off, n int64) error {
	for n > 0 {
		var sent int
		var serr error
		count := int(min(n, sendfileChunkMax))
		err := w.rc.Write(func(out uintptr) bool {
			sent, serr = retryEINTR(func() (int, error) { return unix.Sendfile(int(out), in, &off, count) })
			return w.done(serr)
		})
		if err != nil {
			return err
		}
		if serr != nil {
			return os.NewSyscallError("sendfile", serr)
		}
		if sent == 0 {
			return ErrRegionTruncated // the file ends before the region does
		}
		n -= int64(sent)
		w.stats.sendfile.Add(int64(sent))
		w.stats.written.Add(int64(sent))
		w.stats.sends.Add(1)
	}
	return nil
}

// done tells RawConn.Write whether a syscall finished (true) or must wait
// for the socket to become writable (false, on EAGAIN).
func (w *writer) done(err error) bool {
	if err == unix.EAGAIN {
		w.stats.stalls.Add(1)
		return false
	}
	return true
}

func retryEINTR(call func() (int, error)) (int, error) {
	for {
		n, err := call()
		if err != unix.EINTR {
			return n, err
		}
	}
}

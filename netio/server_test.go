package netio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// TestPipelinedFramesInOrder pipelines frames of random sizes; frames over
// 15000 bytes get a file region appended, so responses alternate between
// the worker's inline send and the writer goroutine.
func TestPipelinedFramesInOrder(t *testing.T) {
	f, data := tempFile(t, 1<<20)
	const bigFrame, regionBytes = 15000, 70 << 10
	var overlap atomic.Int32
	inflight := sync.Map{} // conn ID → *atomic.Int32
	h := handlerFunc(func(ctx context.Context, c *Conn, frame []byte) ([]Piece, error) {
		v, _ := inflight.LoadOrStore(c.ID, new(atomic.Int32))
		n := v.(*atomic.Int32)
		if n.Add(1) != 1 {
			overlap.Add(1)
		}
		defer n.Add(-1)
		pieces, err := echo(ctx, c, frame)
		if len(frame) > bigFrame {
			pieces = append(pieces, Piece{File: f, Offset: int64(len(frame)), Length: regionBytes})
		}
		return pieces, err
	})
	s := startServer(t, Config{MaxRequestBytes: 1 << 20}, h)

	const conns, frames = 4, 300
	var wg sync.WaitGroup
	for ci := range conns {
		c := dial(t, s, 0)
		rng := rand.New(rand.NewPCG(uint64(ci), 1))
		payloads := make([][]byte, frames)
		var stream []byte
		for i := range payloads {
			payloads[i] = fmt.Appendf(nil, "conn %d frame %d %s", ci, i, bytes.Repeat([]byte{'x'}, rng.IntN(20000)))
			stream = append(stream, frameBytes(payloads[i])...)
		}
		wg.Add(2)
		go func() { // all requests without waiting, in odd-sized writes
			defer wg.Done()
			for len(stream) > 0 {
				n := min(len(stream), 1+rng.IntN(70000))
				if _, err := c.Write(stream[:n]); err != nil {
					t.Errorf("write: %v", err)
					return
				}
				stream = stream[n:]
			}
		}()
		go func() {
			defer wg.Done()
			for i, p := range payloads {
				want := append([]byte("re:"), p...)
				if len(p) > bigFrame {
					want = append(want, data[len(p):len(p)+regionBytes]...)
				}
				got, err := recvFrame(c)
				if err != nil {
					t.Errorf("conn %d response %d: %v", ci, i, err)
					return
				}
				if !bytes.Equal(got, want) {
					t.Errorf("conn %d response %d: got %.40q, want %.40q", ci, i, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := overlap.Load(); n != 0 {
		t.Errorf("ServeFrame calls overlapped %d times on one connection", n)
	}
}

// regionHandler answers every frame with the same mix of bytes and regions.
func regionHandler(pieces func() []Piece) Handler {
	return handlerFunc(func(context.Context, *Conn, []byte) ([]Piece, error) { return pieces(), nil })
}

func expectedBytes(pieces []Piece, data []byte) []byte {
	var out []byte
	for _, p := range pieces {
		if p.File != nil {
			out = append(out, data[p.Offset:p.Offset+p.Length]...)
		} else {
			out = append(out, p.Bytes...)
		}
	}
	return out
}

func TestFileRegionsByteExact(t *testing.T) {
	f, data := tempFile(t, 4<<20)
	const copyMax = 32 << 10
	rc := newReleaseCounter(9)
	pieces := []Piece{
		{Bytes: []byte("header"), Release: rc.fn(0)},
		{File: f, Offset: 7, Length: 100, Release: rc.fn(1)},               // copied
		{File: f, Offset: 1000, Length: 1 << 20, Release: rc.fn(2)},        // sendfile
		{Bytes: []byte("between"), Release: rc.fn(3)},                      //
		{File: f, Offset: 5, Length: copyMax, Release: rc.fn(4)},           // copied (at the limit)
		{File: f, Offset: 2 << 20, Length: copyMax + 1, Release: rc.fn(5)}, // sendfile
		{Bytes: nil, Release: rc.fn(6)},                                    // empty
		{File: f, Offset: 99, Length: 0, Release: rc.fn(7)},                // empty region
		{File: f, Offset: 4<<20 - 10, Length: 10, Release: rc.fn(8)},       // copied, file tail
	}
	s := startServer(t, Config{CopyRegionBytesMax: copyMax}, regionHandler(func() []Piece { return pieces }))
	c := dial(t, s, 0)
	sendFrame(t, c, []byte("fetch"))
	got := mustRecv(t, c)
	if want := expectedBytes(pieces, data); !bytes.Equal(got, want) {
		t.Fatalf("response differs: got %d bytes, want %d", len(got), len(want))
	}
	waitFor(t, "pieces released", rc.allOnce)
	rc.check(t)
	st := s.Stats()
	if want := int64(1<<20 + copyMax + 1); st.BytesSendfile != want {
		t.Errorf("BytesSendfile = %d, want %d", st.BytesSendfile, want)
	}
	if want := int64(100 + copyMax + 10); st.BytesCopied != want {
		t.Errorf("BytesCopied = %d, want %d", st.BytesCopied, want)
	}
	if want := int64(4 + len(got)); st.BytesWritten != want {
		t.Errorf("BytesWritten = %d, want %d", st.BytesWritten, want)
	}
}

// TestManyPiecesAcrossRuns crosses the writer's run limits: more pieces
// than one sendmsg takes (iovMax) and more copied regions than one scratch
// buffer holds.
func TestManyPiecesAcrossRuns(t *testing.T) {
	f, data := tempFile(t, 4<<20)
	var pieces []Piece
	var copied int64
	for i := range 3000 {
		pieces = append(pieces, Piece{Bytes: []byte{byte(i), byte(i >> 8)}})
		if i%25 == 0 {
			length := int64(20<<10 + i)
			pieces = append(pieces, Piece{File: f, Offset: int64(i) * 1000, Length: length})
			copied += length
		}
	}
	s := startServer(t, Config{CopyRegionBytesMax: 32 << 10}, regionHandler(func() []Piece { return pieces }))
	c := dial(t, s, 0)
	sendFrame(t, c, []byte("fetch"))
	if got, want := mustRecv(t, c), expectedBytes(pieces, data); !bytes.Equal(got, want) {
		t.Fatalf("response differs: %d bytes, want %d", len(got), len(want))
	}
	if st := s.Stats(); st.BytesCopied != copied || st.BytesSendfile != 0 {
		t.Errorf("copied %d sendfile %d, want copied %d", st.BytesCopied, st.BytesSendfile, copied)
	}
}

func TestSlowReaderStaysSendfile(t *testing.T) {
	f, data := tempFile(t, 40<<20)
	big := []Piece{{Bytes: []byte("hdr")}, {File: f, Offset: 3, Length: 32 << 20}, {Bytes: []byte("tail")}}
	h := handlerFunc(func(ctx context.Context, c *Conn, frame []byte) ([]Piece, error) {
		if string(frame) == "big" {
			return big, nil
		}
		return echo(ctx, c, frame)
	})
	s := startServer(t, Config{CopyRegionBytesMax: 16 << 10}, h)
	c := dial(t, s, 4096)
	sendFrame(t, c, []byte("big"))
	sendFrame(t, c, []byte("small after big"))
	if got, want := mustRecv(t, c), expectedBytes(big, data); !bytes.Equal(got, want) {
		t.Fatalf("big response differs (%d bytes, want %d)", len(got), len(want))
	}
	if got := string(mustRecv(t, c)); got != "re:small after big" {
		t.Fatalf("second response %q", got)
	}
	st := s.Stats()
	if st.BytesSendfile != 32<<20 || st.BytesCopied != 0 {
		t.Errorf("sendfile %d bytes, copied %d; want all %d by sendfile", st.BytesSendfile, st.BytesCopied, 32<<20)
	}
	if st.WriteStalls == 0 {
		t.Errorf("writer never stalled: the EAGAIN path was not exercised")
	}
	t.Logf("stats: %+v", st)
}

func TestTruncatedRegionClosesConnection(t *testing.T) {
	f, _ := tempFile(t, 1<<20)
	for _, tc := range []struct {
		name    string
		copyMax int64
	}{{"sendfile", 0}, {"copy", 1 << 21}} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReleaseCounter(1)
			h := regionHandler(func() []Piece {
				return []Piece{{File: f, Offset: 1<<20 - 100, Length: 200, Release: rc.fn(0)}}
			})
			s := startServer(t, Config{CopyRegionBytesMax: tc.copyMax}, h)
			c := dial(t, s, 0)
			sendFrame(t, c, []byte("fetch"))
			expectClosed(t, c)
			waitFor(t, "release", rc.allOnce)
		})
	}
}

func TestBadFrameClosesOnlyThatConnection(t *testing.T) {
	s := startServer(t, Config{MaxRequestBytes: 1024}, echo)
	good := dial(t, s, 0)
	roundTrip(t, good, "before")

	for _, size := range []int32{1025, -1, -1 << 31} {
		bad := dial(t, s, 0)
		hdr := binary.BigEndian.AppendUint32(nil, uint32(size))
		if _, err := bad.Write(append(hdr, "some bytes"...)); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, bad)
		roundTrip(t, good, fmt.Sprintf("after size %d", size))
	}
	sendFrame(t, good, bytes.Repeat([]byte{'m'}, 1024)) // exactly the limit is fine
	if got := mustRecv(t, good); len(got) != 3+1024 {
		t.Fatalf("max-size frame: got %d bytes", len(got))
	}
}

func TestTruncatedFrameThenClose(t *testing.T) {
	var calls atomic.Int32
	h := handlerFunc(func(ctx context.Context, c *Conn, frame []byte) ([]Piece, error) {
		calls.Add(1)
		return echo(ctx, c, frame)
	})
	s := startServer(t, Config{}, h)
	c := dial(t, s, 0)
	if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, 100), "only ten.."...)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitFor(t, "connection gone", func() bool { return s.Stats().Connections == 0 })
	if n := calls.Load(); n != 0 {
		t.Fatalf("handler called %d times for a truncated frame", n)
	}
	roundTrip(t, dial(t, s, 0), "still serving")
}

func TestHandlerErrorClosesAfterQueuedResponses(t *testing.T) {
	f, data := tempFile(t, 8<<20)
	region := []Piece{{File: f, Offset: 0, Length: 8 << 20}}
	h := handlerFunc(func(ctx context.Context, c *Conn, frame []byte) ([]Piece, error) {
		switch string(frame) {
		case "big":
			return region, nil
		case "boom":
			return nil, errors.New("boom")
		}
		return echo(ctx, c, frame)
	})
	s := startServer(t, Config{}, h)
	c := dial(t, s, 4096) // the big response is still being written when boom fails
	roundTrip(t, c, "ok")
	sendFrame(t, c, []byte("big"))
	sendFrame(t, c, []byte("boom"))
	sendFrame(t, c, []byte("never served"))
	if got := mustRecv(t, c); !bytes.Equal(got, data) {
		t.Fatalf("response queued before the failure differs (%d bytes)", len(got))
	}
	expectClosed(t, c)
}

func TestUnframeableResponseClosesConnection(t *testing.T) {
	f, _ := tempFile(t, 1024)
	for name, p := range map[string]Piece{
		"over 2 GiB":      {File: f, Offset: 0, Length: 3 << 30},
		"negative length": {File: f, Offset: 0, Length: -1},
		"negative offset": {File: f, Offset: -1, Length: 10},
	} {
		t.Run(name, func(t *testing.T) {
			rc := newReleaseCounter(2)
			h := regionHandler(func() []Piece {
				return []Piece{{Bytes: []byte("hdr"), Release: rc.fn(0)}, {File: p.File, Offset: p.Offset, Length: p.Length, Release: rc.fn(1)}}
			})
			s := startServer(t, Config{}, h)
			c := dial(t, s, 0)
			sendFrame(t, c, []byte("fetch"))
			expectClosed(t, c)
			waitFor(t, "release", rc.allOnce)
		})
	}
}

func TestMaxConnections(t *testing.T) {
	s := startServer(t, Config{MaxConnections: 2}, echo)
	a, b := dial(t, s, 0), dial(t, s, 0)
	roundTrip(t, a, "a")
	roundTrip(t, b, "b")
	expectClosed(t, dial(t, s, 0))
	a.Close()
	waitFor(t, "a closed", func() bool { return s.Stats().Connections == 1 })
	roundTrip(t, dial(t, s, 0), "c")
}

func TestIdleTimeout(t *testing.T) {
	release := make(chan struct{})
	h := handlerFunc(func(ctx context.Context, c *Conn, frame []byte) ([]Piece, error) {
		if string(frame) == "slow" {
			<-release
		}
		return echo(ctx, c, frame)
	})
	s := startServer(t, Config{IdleTimeout: 300 * time.Millisecond}, h)
	idle := dial(t, s, 0)
	roundTrip(t, idle, "hello")
	busy := dial(t, s, 0)
	sendFrame(t, busy, []byte("slow"))
	expectClosed(t, idle)
	close(release) // the busy connection outlived the idle timeout with a request in flight
	if got := string(mustRecv(t, busy)); got != "re:slow" {
		t.Fatalf("busy connection got %q", got)
	}
}

func TestMaxInflightBytesPausesDispatch(t *testing.T) {
	f, _ := tempFile(t, 1<<20)
	const limit = 2 << 20
	var srv atomic.Pointer[Server] // set before any request is sent
	var violations, calls atomic.Int32
	h := handlerFunc(func(context.Context, *Conn, []byte) ([]Piece, error) {
		calls.Add(1)
		s := srv.Load()
		s.mu.Lock()
		for cs := range s.conns {
			// Dispatch needs queue ≤ limit and only this goroutine adds to it.
			if cs.queuedBytes.Load() > limit {
				violations.Add(1)
			}
		}
		s.mu.Unlock()
		return []Piece{{File: f, Offset: 0, Length: 1 << 20}}, nil
	})
	s := startServer(t, Config{MaxInflightBytes: limit}, h)
	srv.Store(s)
	c := dial(t, s, 4096)
	const requests = 20
	for range requests {
		sendFrame(t, c, []byte("fetch"))
	}
	waitFor(t, "queue over the limit", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for cs := range s.conns {
			return cs.queuedBytes.Load() > limit
		}
		return false
	})
	if n := calls.Load(); n >= requests {
		t.Fatalf("all %d requests dispatched while the client read nothing", n)
	}
	for i := range requests {
		if got := mustRecv(t, c); len(got) != 1<<20 {
			t.Fatalf("response %d: %d bytes", i, len(got))
		}
	}
	if n := violations.Load(); n != 0 {
		t.Fatalf("%d requests dispatched with the queue over MaxInflightBytes", n)
	}
}

func TestReleaseOnceWhenClientDisconnects(t *testing.T) {
	f, _ := tempFile(t, 48<<20)
	const requests, perResponse = 3, 3
	rc := newReleaseCounter(requests * perResponse)
	var next atomic.Int32
	h := handlerFunc(func(context.Context, *Conn, []byte) ([]Piece, error) {
		i := int(next.Add(1)-1) * perResponse
		return []Piece{
			{Bytes: []byte("hdr"), Release: rc.fn(i)},
			{File: f, Offset: 0, Length: 48 << 20, Release: rc.fn(i + 1)},
			{Bytes: []byte("end"), Release: rc.fn(i + 2)},
		}, nil
	})
	s := startServer(t, Config{}, h)
	c := dial(t, s, 4096)
	for range requests {
		sendFrame(t, c, []byte("fetch"))
	}
	waitFor(t, "all requests served", func() bool { return next.Load() == requests })
	buf := make([]byte, 1000)
	if _, err := c.Read(buf); err != nil { // the first response is on its way
		t.Fatal(err)
	}
	c.Close()
	waitFor(t, "every piece released", rc.allOnce)
	waitFor(t, "connection gone", func() bool { return s.Stats().Connections == 0 })
	rc.check(t)
}

func TestReleaseWhenHandlerOutlivesConnection(t *testing.T) {
	rc := newReleaseCounter(1)
	entered := make(chan struct{})
	h := handlerFunc(func(ctx context.Context, _ *Conn, _ []byte) ([]Piece, error) {
		close(entered)
		<-ctx.Done() // the connection closed under a long poll
		return []Piece{{Bytes: []byte("late"), Release: rc.fn(0)}}, nil
	})
	s := startServer(t, Config{}, h)
	c := dial(t, s, 0)
	sendFrame(t, c, []byte("poll"))
	<-entered
	c.Close()
	waitFor(t, "late response released", rc.allOnce)
}

func TestShutdownDrainsInflightResponse(t *testing.T) {
	f, data := tempFile(t, 8<<20)
	entered, proceed := make(chan struct{}), make(chan struct{})
	h := handlerFunc(func(context.Context, *Conn, []byte) ([]Piece, error) {
		close(entered)
		<-proceed
		return []Piece{{Bytes: []byte("x")}, {File: f, Offset: 0, Length: 8 << 20}}, nil
	})
	s, err := Listen(Config{Addr: "127.0.0.1:0", Logger: testLogger(t)}, h)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s, 8192)
	sendFrame(t, c, []byte("fetch"))
	<-entered
	shutdownErr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		shutdownErr <- s.Shutdown(ctx)
	}()
	waitFor(t, "draining", s.draining.Load)
	if late, err := net.Dial("tcp", s.Addr().String()); err == nil {
		expectClosed(t, late) // accepted by the kernel, closed in OnOpen
		late.Close()
	}
	close(proceed)
	got := mustRecv(t, c)
	if !bytes.Equal(got, append([]byte("x"), data...)) {
		t.Fatalf("drained response differs (%d bytes)", len(got))
	}
	if err := <-shutdownErr; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	expectClosed(t, c)
}

func TestShutdownGivesUpAtDeadline(t *testing.T) {
	entered := make(chan struct{})
	h := handlerFunc(func(ctx context.Context, _ *Conn, _ []byte) ([]Piece, error) {
		close(entered)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	s, err := Listen(Config{Addr: "127.0.0.1:0", Logger: testLogger(t)}, h)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s, 0)
	sendFrame(t, c, []byte("stuck"))
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	expectClosed(t, c)
}

func TestConnectionsSpreadOverLoops(t *testing.T) {
	s := startServer(t, Config{EventLoops: 4}, echo)
	for i := range 8 {
		roundTrip(t, dial(t, s, 0), fmt.Sprint("conn ", i))
	}
	loops := map[gnet.EventLoop]int{}
	s.mu.Lock()
	for cs := range s.conns {
		loops[cs.gc.EventLoop()]++
	}
	s.mu.Unlock()
	if len(loops) != 4 {
		t.Errorf("8 connections on %d event loops, want all 4 used: %v", len(loops), loops)
	}
}

func TestPortExclusive(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	first := startServer(t, Config{}, echo)
	for _, addr := range []string{taken.Addr().String(), first.Addr().String()} {
		s, err := Listen(Config{Addr: addr, Logger: testLogger(t)}, echo)
		if err == nil {
			s.Shutdown(context.Background())
			t.Fatalf("Listen(%q) on a bound port succeeded", addr)
		}
		if want := "listen " + addr + ": address already in use"; !errors.Is(err, syscall.EADDRINUSE) || err.Error() != want {
			t.Errorf("Listen(%q) = %q, want %q (EADDRINUSE)", addr, err, want)
		}
	}
	roundTrip(t, dial(t, first, 0), "still mine")
}

func TestMaxBufferedRequestBytes(t *testing.T) {
	h := handlerFunc(func(ctx context.Context, _ *Conn, _ []byte) ([]Piece, error) {
		<-ctx.Done() // holds the one request in flight
		return nil, nil
	})
	s := startServer(t, Config{MaxRequestBytes: 1024, MaxBufferedRequestBytes: 4096}, h)
	c := dial(t, s, 0)
	for range 3 { // in flight + 2 buffered: under the limit
		sendFrame(t, c, make([]byte, 1000))
	}
	other := dial(t, s, 0)
	sendFrame(t, other, []byte("x"))
	waitFor(t, "both requests in flight", func() bool { return s.pending.Load() == 2 })
	if s.Stats().Connections != 2 {
		t.Fatal("connection closed under the buffered limit")
	}
	for range 3 {
		sendFrame(t, c, make([]byte, 1000))
	}
	expectClosed(t, c)
	waitFor(t, "only the other connection left", func() bool { return s.Stats().Connections == 1 })
}

func TestListenIPv6(t *testing.T) {
	probe, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	probe.Close()
	s := startServer(t, Config{Addr: "[::1]:0"}, echo)
	roundTrip(t, dial(t, s, 0), "v6")
}

func TestListenErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0") // no SO_REUSEPORT: the port is not shareable
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, addr := range []string{taken.Addr().String(), "no-port", "127.0.0.1:99999"} {
		if s, err := Listen(Config{Addr: addr, Logger: testLogger(t)}, echo); err == nil {
			s.Shutdown(context.Background())
			t.Errorf("Listen(%q) succeeded", addr)
		}
	}
}

// TestAcceptSurvivesDescriptorExhaustion fills the process's descriptor
// table: accepts fail with EMFILE, Accepting reports it, and once
// descriptors are free the waiting connection is served.
func TestAcceptSurvivesDescriptorExhaustion(t *testing.T) {
	s := startServer(t, Config{}, echo)
	c := dial(t, s, 0)
	roundTrip(t, c, "before")

	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = min(lim.Cur, 4096)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	var fillers []int
	defer func() {
		for _, fd := range fillers {
			syscall.Close(fd)
		}
	}()
	for {
		fd, err := syscall.Dup(0)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				t.Fatal(err)
			}
			break
		}
		fillers = append(fillers, fd)
	}
	// One descriptor for the client's socket; the server cannot accept it.
	syscall.Close(fillers[0])
	fillers = fillers[1:]
	waiting := dial(t, s, 0)
	waitFor(t, "an accept to fail", func() bool { return s.Stats().AcceptErrors > 0 })
	if err := s.Accepting(); !errors.Is(err, syscall.EMFILE) {
		t.Errorf("Accepting() = %v during EMFILE", err)
	}
	roundTrip(t, c, "an accepted connection still served")

	for _, fd := range fillers {
		syscall.Close(fd)
	}
	fillers = nil
	roundTrip(t, waiting, "accepted once descriptors are free")
	waitFor(t, "Accepting to recover", func() bool { return s.Accepting() == nil })
}

// TestQueuedMaxRequestBytes fills the request-bytes budget with partial
// frames: a frame that does not fit closes its connection, and the bytes
// come back once the frames are served.
func TestQueuedMaxRequestBytes(t *testing.T) {
	const frameSize, budget = 600 << 10, 1 << 20
	s := startServer(t, Config{MaxRequestBytes: frameSize, QueuedMaxRequestBytes: budget}, echo)
	partial := func() (net.Conn, []byte) {
		c := dial(t, s, 0)
		payload := bytes.Repeat([]byte{'p'}, frameSize)
		if _, err := c.Write(frameBytes(payload)[:frameSize/2]); err != nil {
			t.Fatal(err)
		}
		return c, payload
	}
	a, payload := partial()
	waitFor(t, "the first frame reserved", func() bool { return s.Stats().RequestBytes >= frameSize })
	b, _ := partial() // 2 × 600 KiB > 1 MiB
	expectClosed(t, b)
	if got := s.Stats().RequestBytes; got > budget {
		t.Errorf("%d request bytes in memory, budget %d", got, budget)
	}
	if _, err := a.Write(frameBytes(payload)[frameSize/2:]); err != nil {
		t.Fatal(err)
	}
	if got := mustRecv(t, a); len(got) != len("re:")+frameSize {
		t.Fatalf("response of %d bytes", len(got))
	}
	waitFor(t, "the budget given back", func() bool { return s.Stats().RequestBytes == 0 })
	c, _ := partial()
	waitFor(t, "a new frame reserved", func() bool { return s.Stats().RequestBytes >= frameSize })
	c.Close()
	waitFor(t, "a closed connection's frame given back", func() bool { return s.Stats().RequestBytes == 0 })
}

func TestRequestTimeout(t *testing.T) {
	s := startServer(t, Config{RequestTimeout: 300 * time.Millisecond}, echo)
	slow := dial(t, s, 0)
	if _, err := slow.Write(frameBytes([]byte("never finished"))[:8]); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	busy := dial(t, s, 0)
	for time.Since(start) < 600*time.Millisecond {
		roundTrip(t, busy, "quick") // whole frames: never timed out
	}
	expectClosed(t, slow)
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("closed after %v, before the 300ms timeout", took)
	}
	roundTrip(t, busy, "still open")
}

func TestEventLoopsDefault(t *testing.T) {
	for _, tc := range []struct{ configured, procs, want int }{
		{0, 1, 1}, {0, 2, 1}, {0, 4, 1}, {0, 8, 2}, {0, 64, 16}, {3, 2, 3}, {1, 64, 1},
	} {
		if got := eventLoops(tc.configured, tc.procs); got != tc.want {
			t.Errorf("eventLoops(%d, %d) = %d, want %d", tc.configured, tc.procs, got, tc.want)
		}
	}
}

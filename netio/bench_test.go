package netio

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkFetchLike answers each request with a small header and a 1 MiB
// file region (page cache), read over loopback by a client in a child
// process (this test binary re-run as TestFetchReaderProcess): 4
// connections, every request sent up front. MB/s is response payload;
// cpu-s/GB is this process's user+system CPU per GB sent, the client's own
// CPU excluded (on loopback the kernel's receive path still partly runs in
// the sender's context); client-cpu-s/GB is the child's.
func BenchmarkFetchLike(b *testing.B) {
	for _, mode := range []struct {
		name    string
		copyMax int64
	}{{"sendfile", 0}, {"copy", 2 << 20}} {
		b.Run(mode.name, func(b *testing.B) { benchFetch(b, mode.copyMax) })
	}
}

const (
	benchRegionBytes = 1 << 20
	benchConns       = 4
	readerEnv        = "NETIO_BENCH_READER" // "addr n": run as the benchmark's client
)

func benchFetch(b *testing.B, copyMax int64) {
	const fileBytes = 64 << 20
	f, _ := tempFile(b, fileBytes)
	var served atomic.Int64
	header := make([]byte, 40)
	h := handlerFunc(func(context.Context, *Conn, []byte) ([]Piece, error) {
		off := served.Add(1) % (fileBytes/benchRegionBytes - 1) * benchRegionBytes
		return []Piece{{Bytes: header}, {File: f, Offset: off, Length: benchRegionBytes}}, nil
	})
	s := startServer(b, Config{CopyRegionBytesMax: copyMax}, h)
	cmd := exec.Command(os.Args[0], "-test.run=^TestFetchReaderProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d", readerEnv, s.Addr(), b.N))
	cmd.Stderr = os.Stderr
	b.SetBytes(benchRegionBytes)
	b.ResetTimer()
	before := cpuTime(b, unix.RUSAGE_SELF)
	start := time.Now()
	if out, err := cmd.Output(); err != nil {
		b.Fatalf("reader: %v\n%s", err, out)
	}
	elapsed, cpu := time.Since(start), cpuTime(b, unix.RUSAGE_SELF)-before
	b.StopTimer()
	gb := float64(b.N) * benchRegionBytes / 1e9
	b.ReportMetric(cpu.Seconds()/gb, "cpu-s/GB")
	b.ReportMetric(cmd.ProcessState.SystemTime().Seconds()/gb+cmd.ProcessState.UserTime().Seconds()/gb, "client-cpu-s/GB")
	b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "cores")
	st := s.Stats()
	b.ReportMetric(float64(st.BytesSendfile)/float64(st.BytesSendfile+st.BytesCopied)*100, "%sendfile")
}

// TestFetchReaderProcess is BenchmarkFetchLike's client; it runs only in
// the child process the benchmark starts.
func TestFetchReaderProcess(t *testing.T) {
	var addr string
	var total int
	childArgs(t, readerEnv, "BenchmarkFetchLike", &addr, &total)
	eachConn(t, addr, benchConns, total, func(c net.Conn, n int) error { return fetchN(c, n, []byte("fetch")) })
}

// childArgs scans the spec a benchmark passed its child process in env
// into args; unset, the test is skipped: it runs only as bench's client.
func childArgs(t *testing.T, env, bench string, args ...any) {
	spec := os.Getenv(env)
	if spec == "" {
		t.Skip("runs only as " + bench + "'s client")
	}
	if _, err := fmt.Sscan(spec, args...); err != nil {
		t.Fatalf("%s=%q: %v", env, spec, err)
	}
}

// eachConn dials conns connections to addr and runs fn on each in its own
// goroutine with its share of total requests, until all return.
func eachConn(t *testing.T, addr string, conns, total int, fn func(c net.Conn, n int) error) {
	var wg sync.WaitGroup
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		n := total / conns
		if i < total%conns {
			n++
		}
		wg.Go(func() {
			if err := fn(c, n); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// fetchN sends n requests carrying payload from one goroutine while it
// reads the n responses.
func fetchN(c net.Conn, n int, payload []byte) error {
	errc := make(chan error, 1)
	go func() {
		req := frameBytes(payload)
		for range n {
			if _, err := c.Write(req); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	buf := make([]byte, 2<<20)
	for range n {
		if _, err := io.ReadFull(c, buf[:4]); err != nil {
			return err
		}
		size := binary.BigEndian.Uint32(buf[:4])
		if _, err := io.ReadFull(c, buf[:size]); err != nil {
			return err
		}
	}
	return <-errc
}

func cpuTime(b *testing.B, who int) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRoundTrip is one in-process client doing sequential 100-byte
// request/response round trips: the latency of loop → worker → writer.
func BenchmarkRoundTrip(b *testing.B) {
	for _, loops := range []int{1, 2} {
		b.Run(fmt.Sprint("loops=", loops), func(b *testing.B) { benchRoundTrip(b, loops) })
	}
}

func benchRoundTrip(b *testing.B, loops int) {
	s := startServer(b, Config{EventLoops: loops}, echo)
	c := dial(b, s, 0)
	req := frameBytes(make([]byte, 100))
	buf := make([]byte, 4+3+100)
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPipelined is one in-process client with every 100-byte request
// sent up front: per-request cost when responses queue behind each other.
func BenchmarkPipelined(b *testing.B) {
	s := startServer(b, Config{}, echo)
	c := dial(b, s, 0)
	b.ResetTimer()
	if err := fetchN(c, b.N, make([]byte, 100)); err != nil {
		b.Fatal(err)
	}
}

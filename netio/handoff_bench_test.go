package netio

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/riffle/riffle/internal/benchtail"
)

// slowHandoff is the longest a frame may wait between the event loop
// and its worker in BenchmarkHandoffOneP before the benchmark fails.
const slowHandoff = 10 * time.Millisecond

var handoffAnswer = []byte("ok")

const pacedClientEnv = "NETIO_BENCH_PACED" // "addr n interval": run as BenchmarkHandoffOneP's client

// BenchmarkHandoffOneP runs the server with one P (a broker limited to one
// CPU) and one event loop, answering 1 KiB requests that a client in a
// child process (TestPacedClientProcess) sends on two connections, each
// one request at a time every 200 µs (about 10,000 requests a second, as a
// producer at 50,000 x 1 KiB/s sends them). It reports how long frames
// waited between the loop and their worker (Conn.Queued) and fails, naming
// each, for waits over slowHandoff: a worker left behind the loop while
// gnet blocks in epoll_wait holding the only P waited 10-20 ms for the
// runtime's monitor to retake it.
func BenchmarkHandoffOneP(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var mu sync.Mutex
	queued := make([]time.Duration, 0, b.N)
	h := handlerFunc(func(_ context.Context, c *Conn, frame []byte) ([]Piece, error) {
		mu.Lock()
		queued = append(queued, c.Queued)
		mu.Unlock()
		return []Piece{{Bytes: handoffAnswer}}, nil
	})
	s := startServer(b, Config{EventLoops: 1}, h)
	cmd := exec.Command(os.Args[0], "-test.run=^TestPacedClientProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d", pacedClientEnv, s.Addr(), b.N, 200*time.Microsecond))
	cmd.Stderr = os.Stderr
	b.ResetTimer()
	if out, err := cmd.Output(); err != nil {
		b.Fatalf("client: %v\n%s", err, out)
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	benchtail.Report(b, "request", queued, slowHandoff)
}

// TestPacedClientProcess is BenchmarkHandoffOneP's client; it runs only
// in the child process the benchmark starts.
func TestPacedClientProcess(t *testing.T) {
	var addr string
	var total int
	var interval time.Duration
	childArgs(t, pacedClientEnv, "BenchmarkHandoffOneP", &addr, &total, &interval)
	req := frameBytes(make([]byte, 1<<10))
	eachConn(t, addr, 2, total, func(c net.Conn, n int) error {
		next := time.Now()
		for range n {
			next = next.Add(interval)
			time.Sleep(time.Until(next))
			if _, err := c.Write(req); err != nil {
				return err
			}
			if _, err := recvFrame(c); err != nil {
				return err
			}
		}
		return nil
	})
}

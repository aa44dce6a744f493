package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/riffle/riffle/benchmarks/chaos/netns"
	"github.com/riffle/riffle/benchmarks/targets"
)

// Ports every node uses on its own namespace address.
const (
	kafkaPort   = 9092
	clusterPort = 9192
	adminPort   = 9644
)

// cluster runs one riffle process per namespace.
type cluster struct {
	net   *netns.Net
	bin   string
	args  []string // extra flags for every node
	dir   string
	nodes []*node
}

// node is one riffle process; it is restarted on the same data directory.
type node struct {
	id      int // 1-based node id
	dataDir string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	paused bool
}

func newCluster(nt *netns.Net, bin string, args []string, dir string) *cluster {
	c := &cluster{net: nt, bin: bin, args: args, dir: dir}
	for i := range nt.Nodes {
		d := filepath.Join(dir, fmt.Sprintf("node-%d", i+1))
		c.nodes = append(c.nodes, &node{id: i + 1, dataDir: filepath.Join(d, "data"), logPath: filepath.Join(d, "output.log")})
	}
	return c
}

func (c *cluster) voters() string {
	var v []string
	for i, n := range c.net.Nodes {
		v = append(v, fmt.Sprintf("%d@%s:%d", i+1, n.IP, clusterPort))
	}
	return strings.Join(v, ",")
}

// bootstrap lists every node's Kafka listener.
func (c *cluster) bootstrap() []string {
	var b []string
	for _, n := range c.net.Nodes {
		b = append(b, fmt.Sprintf("%s:%d", n.IP, kafkaPort))
	}
	return b
}

// start launches node i (0-based) if it is not running. It does not wait
// for readiness: a node waits for a quorum, and the workload sees when the
// cluster serves.
func (c *cluster) start(i int) error {
	n := c.nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(n.logPath), 0o755); err != nil {
		return fmt.Errorf("node %d: %w", n.id, err)
	}
	logFile, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("node %d: %w", n.id, err)
	}
	defer logFile.Close()
	ip := c.net.Nodes[i].IP
	argv := append([]string{c.bin, "--node-id", fmt.Sprint(n.id),
		"--listen", fmt.Sprintf("%s:%d", ip, kafkaPort),
		"--admin-listen", fmt.Sprintf("%s:%d", ip, adminPort),
		"--data-dir", n.dataDir,
		"--set", "cluster.voters=" + c.voters(),
		"--set", fmt.Sprintf("cluster.listen=%s:%d", ip, clusterPort)}, c.args...)
	cmd := c.net.Command(i, argv...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The nodes die with the harness, even when it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("node %d: start %s: %w", n.id, c.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	n.cmd, n.exited, n.paused = cmd, exited, false
	return nil
}

// kill sends SIGKILL to node i and waits for it to exit.
func (c *cluster) kill(i int) error {
	n := c.nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return fmt.Errorf("node %d is not running", n.id)
	}
	_ = n.cmd.Process.Kill()
	<-n.exited
	n.cmd = nil
	return nil
}

// signal pauses (SIGSTOP) or resumes (SIGCONT) node i.
func (c *cluster) signal(i int, pause bool) error {
	n := c.nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return fmt.Errorf("node %d is not running", n.id)
	}
	sig := syscall.SIGCONT
	if pause {
		sig = syscall.SIGSTOP
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("node %d: %v: %w", n.id, sig, err)
	}
	n.paused = pause
	return nil
}

// running reports whether node i has a process that has not exited.
func (c *cluster) running(i int) bool {
	n := c.nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// healAll resumes every paused node and restarts every stopped one; a node
// that exited on its own is an error the report shows, with its log.
func (c *cluster) healAll() error {
	var errs []error
	for i, n := range c.nodes {
		n.mu.Lock()
		paused, cmd := n.paused, n.cmd
		n.mu.Unlock()
		if paused {
			errs = append(errs, c.signal(i, false))
		}
		if cmd != nil && !c.running(i) {
			errs = append(errs, fmt.Errorf("node %d exited by itself; its output ends:\n%s", n.id, targets.Tail(n.logPath)))
			n.mu.Lock()
			n.cmd = nil
			n.mu.Unlock()
		}
		errs = append(errs, c.start(i))
	}
	return errors.Join(errs...)
}

// stopAll stops every node (SIGCONT, SIGTERM, SIGKILL after timeout) and
// waits for them.
func (c *cluster) stopAll(timeout time.Duration) {
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		n.mu.Lock()
		cmd, exited := n.cmd, n.exited
		n.cmd = nil
		n.mu.Unlock()
		if cmd == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = cmd.Process.Signal(syscall.SIGCONT)
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(timeout):
				_ = cmd.Process.Kill()
				<-exited
			}
		}()
	}
	wg.Wait()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(ctx context.Context, timeout time.Duration, what string, cond func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		err := cond(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not within %v: %w", what, timeout, err)
		case <-t.C:
		}
	}
}

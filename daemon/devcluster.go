package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Dev-cluster defaults: node i (1..N) listens for Kafka on
// devKafkaPortBase+i-1, for the quorum on devClusterPortBase+i-1 and for
// admin HTTP on devAdminPortBase+i-1, when those ports are free.
const (
	devKafkaPortBase   = 9092
	devClusterPortBase = 9192
	devAdminPortBase   = 9644
	devNodesMax        = 9
	devDir             = "dev-cluster"
	devReadyTimeout    = 2 * time.Minute
)

// IsDevCluster reports whether args (without the program name) ask for
// `riffle dev-cluster`.
func IsDevCluster(args []string) bool { return len(args) > 0 && args[0] == "dev-cluster" }

// devNode is one child broker of a dev cluster.
type devNode struct {
	id                 int
	kafka, quorum, adm string // host:port
	cmd                *exec.Cmd
	exited             chan struct{}
	err                error // the child's exit; set before exited closes
}

// DevCluster runs `riffle dev-cluster N [flags]`: N brokers of one quorum
// on loopback, each a child process of this binary with its data under
// ./dev-cluster/node-<id>, until ctx ends (Ctrl-C); then every child gets
// SIGTERM and DevCluster waits for all. Flags after N go to every node.
// Child output goes to stderr, each line prefixed with its node.
func DevCluster(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	n, extra, err := parseDevClusterArgs(args[1:])
	if err != nil {
		fmt.Fprintf(stderr, "riffle dev-cluster: %v\nUsage: riffle dev-cluster N [broker flags for every node]   (N from 1 to %d)\n", err, devNodesMax)
		return ExitUsage
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "riffle dev-cluster: %v\n", err)
		return 1
	}
	nodes, err := devPorts(n)
	if err != nil {
		fmt.Fprintf(stderr, "riffle dev-cluster: %v\n", err)
		return ExitListen
	}
	var voters, bootstrap []string
	for _, nd := range nodes {
		voters = append(voters, fmt.Sprintf("%d@%s", nd.id, nd.quorum))
		bootstrap = append(bootstrap, nd.kafka)
	}
	fmt.Fprintf(stdout, "dev-cluster: %d nodes, data under ./%s/node-<id>\n", n, devDir)
	fmt.Fprintf(stdout, "dev-cluster: cluster.voters=%s\n", strings.Join(voters, ","))
	var out sync.Mutex // one child's line at a time
	for _, nd := range nodes {
		dir := filepath.Join(devDir, fmt.Sprintf("node-%d", nd.id))
		ready := dir + ".ready"
		_ = os.Remove(ready) // a stale one would say ready too early
		nodeArgs := append([]string{
			"--node-id", strconv.Itoa(nd.id),
			"--listen", nd.kafka,
			"--admin-listen", nd.adm,
			"--data-dir", dir,
			"--ready-file", ready,
			"--set", "cluster.voters=" + strings.Join(voters, ","),
			"--set", "cluster.listen=" + nd.quorum,
		}, extra...)
		fmt.Fprintf(stdout, "dev-cluster: node %d: kafka %s, cluster %s, admin %s\n", nd.id, nd.kafka, nd.quorum, nd.adm)
		if err := nd.start(self, nodeArgs, stderr, &out); err != nil {
			fmt.Fprintf(stderr, "riffle dev-cluster: node %d: %v\n", nd.id, err)
			stopDevNodes(nodes)
			return 1
		}
	}
	fmt.Fprintf(stdout, "dev-cluster: bootstrap servers %s\n", strings.Join(bootstrap, ","))
	go reportDevReady(ctx, nodes, stdout)
	return waitDevNodes(ctx, nodes, stderr)
}

func parseDevClusterArgs(args []string) (int, []string, error) {
	if len(args) == 0 {
		return 0, nil, errors.New("missing N, the number of nodes")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || n > devNodesMax {
		return 0, nil, fmt.Errorf("N = %q: want a number from 1 to %d", args[0], devNodesMax)
	}
	return n, args[1:], nil
}

// devPorts picks each node's ports: the default one if it is free, else
// one the system picks. A port is only probed, then released: another
// process may take it before the node binds it, and the node then exits
// with the listen error.
func devPorts(n int) ([]*devNode, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	pick := func(preferred int) (string, error) {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(preferred)))
		if err != nil {
			if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				return "", fmt.Errorf("pick a port: %w", err)
			}
		}
		held = append(held, l) // held until all are picked, so none repeats
		return l.Addr().String(), nil
	}
	var nodes []*devNode
	for i := range n {
		nd := &devNode{id: i + 1, exited: make(chan struct{})}
		var err error
		if nd.kafka, err = pick(devKafkaPortBase + i); err != nil {
			return nil, err
		}
		if nd.quorum, err = pick(devClusterPortBase + i); err != nil {
			return nil, err
		}
		if nd.adm, err = pick(devAdminPortBase + i); err != nil {
			return nil, err
		}
		nodes = append(nodes, nd)
	}
	return nodes, nil
}

// start runs the node's process, copying its output to w line by line
// with a "node-<id> | " prefix.
func (nd *devNode) start(bin string, args []string, w io.Writer, mu *sync.Mutex) error {
	if err := os.MkdirAll(devDir, 0o755); err != nil {
		return err
	}
	nd.cmd = exec.Command(bin, args...)
	// A child must not outlive dev-cluster, even if it is killed.
	nd.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	pr, pw := io.Pipe()
	nd.cmd.Stdout, nd.cmd.Stderr = pw, pw
	if err := nd.cmd.Start(); err != nil {
		return err
	}
	prefix := fmt.Sprintf("node-%d | ", nd.id)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			mu.Lock()
			fmt.Fprintln(w, prefix+sc.Text())
			mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, pr) // a line too long: keep the child writing
	}()
	go func() {
		nd.err = nd.cmd.Wait()
		pw.Close()
		<-copied
		close(nd.exited)
	}()
	return nil
}

// reportDevReady prints when every node serves (has written its ready file).
func reportDevReady(ctx context.Context, nodes []*devNode, w io.Writer) {
	deadline := time.Now().Add(devReadyTimeout)
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for pending := nodes; len(pending) > 0; {
		var still []*devNode
		for _, nd := range pending {
			if _, err := os.Stat(filepath.Join(devDir, fmt.Sprintf("node-%d.ready", nd.id))); err != nil {
				still = append(still, nd)
			}
		}
		if pending = still; len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(w, "dev-cluster: node %d not serving after %v; see its output\n", pending[0].id, devReadyTimeout)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		}
	}
	fmt.Fprintf(w, "dev-cluster: all %d nodes serve; Ctrl-C stops them\n", len(nodes))
}

// waitDevNodes waits for ctx or for a node to exit, stops every node, and
// returns 0 if each exited cleanly after the stop.
func waitDevNodes(ctx context.Context, nodes []*devNode, stderr io.Writer) int {
	anyExit := make(chan *devNode, len(nodes))
	for _, nd := range nodes {
		go func() {
			<-nd.exited
			anyExit <- nd
		}()
	}
	code := 0
	select {
	case <-ctx.Done():
	case nd := <-anyExit:
		fmt.Fprintf(stderr, "riffle dev-cluster: node %d exited (%v); stopping the others\n", nd.id, nd.err)
		code = 1
	}
	stopDevNodes(nodes)
	for _, nd := range nodes {
		if nd.err != nil && code == 0 {
			fmt.Fprintf(stderr, "riffle dev-cluster: node %d: %v\n", nd.id, nd.err)
			code = 1
		}
	}
	return code
}

// stopDevNodes sends SIGTERM to every started node and waits for each.
func stopDevNodes(nodes []*devNode) {
	for _, nd := range nodes {
		if nd.cmd != nil && nd.cmd.Process != nil {
			_ = nd.cmd.Process.Signal(syscall.SIGTERM) // fails only if it has exited
		}
	}
	for _, nd := range nodes {
		if nd.cmd != nil && nd.cmd.Process != nil {
			<-nd.exited
		}
	}
}

package brokertest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/riffle/riffle/internal/testport"
)

// Cluster is riffle processes on loopback forming one metadata quorum:
// node ids 1..N, each with its own data directory; the first ones voters,
// any after them brokers only (not in cluster.voters, no cluster listener).
type Cluster struct {
	t      testing.TB
	nodes  []*Broker
	voters string // cluster.voters
}

// StartCluster starts n brokers whose cluster.voters name all n, and waits
// until each serves. The Kafka and cluster listener ports are picked before
// start (the voter list needs them), by testport.Free: held until all are
// known, drawn below the ephemeral range, released just before the
// processes start.
// extraArgs go to every node, last. The nodes are stopped when the test ends.
func StartCluster(t testing.TB, n int, extraArgs ...string) *Cluster {
	t.Helper()
	return StartClusterNodeArgs(t, n, func(int32) []string { return extraArgs })
}

// StartClusterNodeArgs is StartCluster with each node's extra arguments
// from nodeArgs(node id): a rack per broker, say.
func StartClusterNodeArgs(t testing.TB, n int, nodeArgs func(id int32) []string) *Cluster {
	t.Helper()
	return StartClusterWithBrokers(t, n, 0, nodeArgs)
}

// StartClusterWithBrokers is StartClusterNodeArgs with brokers more nodes
// (ids voters+1 on) that are brokers only: they follow the voters' quorum.
func StartClusterWithBrokers(t testing.TB, voters, brokers int, nodeArgs func(id int32) []string) *Cluster {
	t.Helper()
	n := voters + brokers
	ports := testport.Free(t, n+voters)
	list := make([]string, voters)
	for i := range voters {
		list[i] = fmt.Sprintf("%d@127.0.0.1:%d", i+1, ports[n+i])
	}
	c := &Cluster{t: t, voters: strings.Join(list, ",")}
	bin := Binary(t)
	for i := range n {
		args := []string{"--node-id", strconv.Itoa(i + 1), "--set", "cluster.voters=" + c.voters}
		if i < voters {
			args = append(args, "--set", fmt.Sprintf("cluster.listen=127.0.0.1:%d", ports[n+i]))
		}
		args = append(args, nodeArgs(int32(i+1))...)
		b := &Broker{t: t, bin: bin, args: args, dataDir: t.TempDir(), runDir: t.TempDir(),
			addr: fmt.Sprintf("127.0.0.1:%d", ports[i])}
		t.Cleanup(b.cleanup)
		c.nodes = append(c.nodes, b)
	}
	c.StartAll()
	return c
}

// Voters is the cluster's cluster.voters.
func (c *Cluster) Voters() string { return c.voters }

// Nodes are the cluster's brokers; Nodes()[i] has node id i+1.
func (c *Cluster) Nodes() []*Broker { return c.nodes }

// Node is the broker of node id id (1..N).
func (c *Cluster) Node(id int32) *Broker { return c.nodes[id-1] }

// Addrs are the Kafka listeners of the nodes, as seed brokers.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.nodes))
	for i, b := range c.nodes {
		out[i] = b.Addr()
	}
	return out
}

// StartAll starts every node that is not running, on its own ports and
// data directory, then waits until each serves: a node serves only once
// it reaches the quorum, so they must start together.
func (c *Cluster) StartAll() {
	c.t.Helper()
	var started []*Broker
	for _, b := range c.nodes {
		if b.proc == nil {
			b.spawn(b.addr)
			started = append(started, b)
		}
	}
	for _, b := range started {
		b.awaitReady()
	}
}

// KillAll kills every node (SIGKILL).
func (c *Cluster) KillAll() {
	c.t.Helper()
	for _, b := range c.nodes {
		b.Kill()
	}
}

// StopAll stops every node (SIGTERM), each expected to exit 0.
func (c *Cluster) StopAll() {
	c.t.Helper()
	for _, b := range c.nodes {
		b.Stop()
	}
}

// Package netns builds the network of a fault-injection run: one Linux
// network namespace per node, each joined by a veth pair to a bridge in
// the host namespace, which also holds an address so the harness's
// clients reach every node. Links between nodes are cut with nftables
// rules inside the nodes' namespaces and slowed with tc netem on their
// veth ends; the clients' path is never cut (they see what a client
// beside the cluster sees).
//
// Every name carries a run-unique prefix, so parallel runs and leftovers
// of a killed run do not collide. Close removes everything Setup made and
// may be called after a partial Setup.
package netns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"
)

// ErrEnvironment marks a machine the runner cannot work on (not root, no
// ip or nft); the message says what is missing.
var ErrEnvironment = errors.New("environment")

// Require checks for root and the commands the runner uses.
func Require() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: network namespaces, veth pairs and nftables need root (run as root, e.g. with sudo)", ErrEnvironment)
	}
	for _, c := range []struct{ cmd, pkg string }{{"ip", "iproute2"}, {"tc", "iproute2"}, {"nft", "nftables"}} {
		if _, err := exec.LookPath(c.cmd); err != nil {
			return fmt.Errorf("%w: %s not found (Debian package %s; scripts/install-test-deps.sh installs it)", ErrEnvironment, c.cmd, c.pkg)
		}
	}
	return nil
}

// Net is the network of one run.
type Net struct {
	ID     string         // run-unique, e.g. "3fa9c2"
	Bridge string         // bridge in the host namespace
	HostIP netip.Addr     // the bridge's address, the clients' source
	Nodes  []Node         // index i is node i+1
	made   []func() error // undo steps, run in reverse by Close
}

// Node is one node's namespace.
type Node struct {
	NS   string     // namespace name, for ip netns exec
	Veth string     // host end of its veth pair
	IP   netip.Addr // its address; the node's listeners bind it
}

// timeout bounds each ip/nft/tc command: a loaded machine is slow, a hung
// one must not hang the run.
const timeout = 30 * time.Second

// run executes one command and wraps its output into the error.
func run(ctx context.Context, argv ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// runInput executes one command with stdin.
func runInput(ctx context.Context, stdin string, argv ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s\n%s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)), stdin)
	}
	return nil
}

// Setup creates the bridge and n namespaces. On error it has already
// removed what it made.
func Setup(ctx context.Context, n int) (*Net, error) {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("netns: %w", err)
	}
	id := hex.EncodeToString(b[:])
	// A /24 in 10.0.0.0/8 picked from the id; the prefix of another run or
	// of the host is refused by the route check below.
	subnet := netip.AddrFrom4([4]byte{10, 128 + b[0]%64, b[1], 0})
	nt := &Net{ID: id, Bridge: "rc" + id + "br", HostIP: subnet.Next()}
	if err := nt.setup(ctx, n, subnet); err != nil {
		return nil, errors.Join(err, nt.Close())
	}
	return nt, nil
}

func (nt *Net) setup(ctx context.Context, n int, subnet netip.Addr) error {
	prefix := netip.PrefixFrom(subnet, 24)
	out, err := exec.CommandContext(ctx, "ip", "-4", "route", "show", prefix.String()).Output()
	if err != nil {
		return fmt.Errorf("netns: ip route: %w", err)
	}
	if strings.TrimSpace(string(out)) != "" {
		return fmt.Errorf("netns: subnet %s is in use on this host; run again", prefix)
	}
	bg := context.WithoutCancel(ctx) // undo steps must run after a Ctrl-C
	if err := run(ctx, "ip", "link", "add", nt.Bridge, "type", "bridge"); err != nil {
		return err
	}
	nt.made = append(nt.made, func() error { return run(bg, "ip", "link", "del", nt.Bridge) })
	if err := run(ctx, "ip", "addr", "add", nt.HostIP.String()+"/24", "dev", nt.Bridge); err != nil {
		return err
	}
	if err := run(ctx, "ip", "link", "set", nt.Bridge, "up"); err != nil {
		return err
	}
	ip := nt.HostIP
	for i := 1; i <= n; i++ {
		ip = ip.Next()
		node := Node{NS: fmt.Sprintf("riffle-chaos-%s-n%d", nt.ID, i), Veth: fmt.Sprintf("rc%sn%d", nt.ID, i), IP: ip}
		if err := run(ctx, "ip", "netns", "add", node.NS); err != nil {
			return err
		}
		nt.made = append(nt.made, func() error { return run(bg, "ip", "netns", "del", node.NS) })
		nt.Nodes = append(nt.Nodes, node)
		// Deleting the namespace would delete the pair too, but later, in
		// the kernel's own time: delete it first so Close leaves nothing.
		if err := run(ctx, "ip", "link", "add", node.Veth, "type", "veth", "peer", "name", "eth0", "netns", node.NS); err != nil {
			return err
		}
		nt.made = append(nt.made, func() error { return run(bg, "ip", "link", "del", node.Veth) })
		steps := [][]string{
			{"ip", "link", "set", node.Veth, "master", nt.Bridge},
			{"ip", "link", "set", node.Veth, "up"},
			{"ip", "-n", node.NS, "addr", "add", node.IP.String() + "/24", "dev", "eth0"},
			{"ip", "-n", node.NS, "link", "set", "eth0", "up"},
			{"ip", "-n", node.NS, "link", "set", "lo", "up"},
		}
		for _, s := range steps {
			if err := run(ctx, s...); err != nil {
				return err
			}
		}
		// The filter table partitions edit; empty chains pass everything.
		if err := runInput(ctx, "table inet chaos {\n"+
			" chain input { type filter hook input priority 0; policy accept; }\n"+
			" chain output { type filter hook output priority 0; policy accept; }\n}\n",
			"ip", "netns", "exec", node.NS, "nft", "-f", "-"); err != nil {
			return err
		}
	}
	return nil
}

// Close removes the namespaces and the bridge; it is safe after a partial
// Setup and to call twice.
func (nt *Net) Close() error {
	var errs []error
	for i := len(nt.made) - 1; i >= 0; i-- {
		errs = append(errs, nt.made[i]())
	}
	nt.made = nil
	return errors.Join(errs...)
}

// Command returns argv run inside node i's namespace (0-based); the
// process keeps its pid (ip netns exec execs), so signals reach it.
func (nt *Net) Command(i int, argv ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", nt.Nodes[i].NS}, argv...)...)
}

// Cut drops the packets between the nodes of each pair (0-based
// indexes), both ways, on top of earlier cuts: all of them, or with port
// > 0 only TCP to and from that port (a firewall that blocks one
// listener).
func (nt *Net) Cut(ctx context.Context, pairs [][2]int, port int) error {
	match := ""
	if port > 0 {
		match = fmt.Sprintf(" tcp dport %d", port)
	}
	rules := map[int]*strings.Builder{}
	add := func(i, j int) {
		b := rules[i]
		if b == nil {
			b = &strings.Builder{}
			rules[i] = b
		}
		peer := nt.Nodes[j].IP
		fmt.Fprintf(b, "add rule inet chaos input ip saddr %s%s drop\n", peer, match)
		fmt.Fprintf(b, "add rule inet chaos output ip daddr %s%s drop\n", peer, match)
		if port > 0 {
			fmt.Fprintf(b, "add rule inet chaos input ip saddr %s tcp sport %d drop\n", peer, port)
			fmt.Fprintf(b, "add rule inet chaos output ip daddr %s tcp sport %d drop\n", peer, port)
		}
	}
	for _, p := range pairs {
		add(p[0], p[1])
		add(p[1], p[0])
	}
	for i, b := range rules {
		if err := runInput(ctx, b.String(), "ip", "netns", "exec", nt.Nodes[i].NS, "nft", "-f", "-"); err != nil {
			return err
		}
	}
	return nil
}

// Loss drops lossPct percent of the packets node i (0-based) sends and
// receives, at random (nftables numgen, so no kernel module is needed).
func (nt *Net) Loss(ctx context.Context, i int, lossPct float64) error {
	n := int(lossPct * 10)
	return runInput(ctx, fmt.Sprintf("add rule inet chaos input numgen random mod 1000 < %d drop\n"+
		"add rule inet chaos output numgen random mod 1000 < %d drop\n", n, n),
		"ip", "netns", "exec", nt.Nodes[i].NS, "nft", "-f", "-")
}

// HasNetem reports whether the kernel has tc's netem qdisc (sch_netem),
// which Delay needs; some VM kernels are built without it.
func (nt *Net) HasNetem(ctx context.Context) bool {
	if err := run(ctx, "ip", "netns", "exec", nt.Nodes[0].NS, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "0ms"); err != nil {
		return false
	}
	return run(ctx, "ip", "netns", "exec", nt.Nodes[0].NS, "tc", "qdisc", "del", "dev", "lo", "root") == nil
}

// Delay adds delay with jitter to everything node i (0-based) sends and
// receives, with tc netem on both ends of its veth pair.
func (nt *Net) Delay(ctx context.Context, i int, delay, jitter time.Duration) error {
	for _, tc := range nt.delayTargets(i) {
		args := append(tc, "root", "netem", "delay",
			fmt.Sprintf("%dms", delay.Milliseconds()), fmt.Sprintf("%dms", jitter.Milliseconds()))
		if err := run(ctx, append([]string{}, args...)...); err != nil {
			return err
		}
	}
	return nil
}

// delayTargets are the tc command prefixes up to the device for node i:
// its eth0 (what it sends) and the host end of its veth (what it receives).
func (nt *Net) delayTargets(i int) [][]string {
	return [][]string{
		{"ip", "netns", "exec", nt.Nodes[i].NS, "tc", "qdisc", "replace", "dev", "eth0"},
		{"tc", "qdisc", "replace", "dev", nt.Nodes[i].Veth},
	}
}

// Heal removes every cut and every netem qdisc.
func (nt *Net) Heal(ctx context.Context) error {
	var errs []error
	for i, n := range nt.Nodes {
		errs = append(errs, runInput(ctx, "flush chain inet chaos input\nflush chain inet chaos output\n",
			"ip", "netns", "exec", n.NS, "nft", "-f", "-"))
		for _, tc := range nt.delayTargets(i) {
			// "replace" -> "del": no qdisc (nothing was delayed) is fine.
			tc[len(tc)-3] = "del"
			_ = run(ctx, append(tc, "root")...)
		}
	}
	return errors.Join(errs...)
}

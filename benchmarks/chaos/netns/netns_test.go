package netns

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestSetupCutHealClose builds a 3-node network, checks that a cut stops
// traffic between two nodes and a heal restores it, and that Close leaves
// no namespace or link behind.
func TestSetupCutHealClose(t *testing.T) {
	if err := Require(); err != nil {
		t.Skipf("skipped: %v", err)
	}
	ctx := context.Background()
	nt, err := Setup(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer nt.Close()
	// A listener in node 2's namespace, dialled from node 1's.
	srv := nt.Command(1, "python3", "-c", "import socket,time\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('"+nt.Nodes[1].IP.String()+"',7000));s.listen(5)\nwhile True:\n c,_=s.accept();c.close()")
	if err := srv.Start(); err != nil {
		t.Skipf("skipped: no python3 for the listener: %v", err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	dial := func() error {
		return nt.Command(0, "python3", "-c", "import socket;socket.create_connection(('"+nt.Nodes[1].IP.String()+"',7000),timeout=2)").Run()
	}
	waitFor(t, "node 1 reaches node 2", func() bool { return dial() == nil })
	// The host reaches every node through the bridge.
	c, err := net.DialTimeout("tcp", nt.Nodes[1].IP.String()+":7000", 5*time.Second)
	if err != nil {
		t.Fatalf("host to node 2: %v", err)
	}
	c.Close()
	if err := nt.Cut(ctx, [][2]int{{0, 1}}, 0); err != nil {
		t.Fatal(err)
	}
	if dial() == nil {
		t.Fatal("node 1 reached node 2 through a cut")
	}
	if err := nt.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node 1 reaches node 2 after the heal", func() bool { return dial() == nil })
	// A cut of another port leaves this one open; a cut of this one closes it.
	if err := nt.Cut(ctx, [][2]int{{0, 1}}, 7001); err != nil {
		t.Fatal(err)
	}
	if err := dial(); err != nil {
		t.Fatalf("a cut of port 7001 blocked port 7000: %v", err)
	}
	if err := nt.Cut(ctx, [][2]int{{0, 1}}, 7000); err != nil {
		t.Fatal(err)
	}
	if dial() == nil {
		t.Fatal("node 1 reached node 2's port 7000 through a cut of that port")
	}
	if err := nt.Loss(ctx, 2, 1); err != nil {
		t.Fatal(err)
	}
	if nt.HasNetem(ctx) {
		if err := nt.Delay(ctx, 2, 50*time.Millisecond, 5*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := nt.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node 1 reaches node 2 after the heal", func() bool { return dial() == nil })
	if err := nt.Close(); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("ip", "-o", "link").Output()
	ns, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), nt.ID) || strings.Contains(string(ns), nt.ID) {
		t.Fatalf("left behind:\n%s\n%s", out, ns)
	}
}

func TestRequireNamesWhatIsMissing(t *testing.T) {
	if err := Require(); err != nil && !errors.Is(err, ErrEnvironment) {
		t.Fatalf("Require: %v is not an environment error", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

package e2e

import (
	"bufio"
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/internal/brokertest"
)

// TestDevCluster runs `riffle dev-cluster 3` in a fresh directory: it
// prints the bootstrap servers, the three nodes form one cluster, and
// SIGINT stops them all, exit 0, none waiting out its controlled shutdown.
func TestDevCluster(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(brokertest.Binary(t), "dev-cluster", "3", "--log-level", "warn")
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // after a failure; it has exited otherwise
	})
	var bootstrap []string
	deadline := time.After(2 * time.Minute)
	for serving := false; !serving; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("dev-cluster ended before serving: %v\n%s", <-exited, stderr.String())
			}
			t.Log(l)
			if rest, ok := strings.CutPrefix(l, "dev-cluster: bootstrap servers "); ok {
				bootstrap = strings.Split(rest, ",")
			}
			serving = strings.HasPrefix(l, "dev-cluster: all 3 nodes serve")
		case <-deadline:
			t.Fatalf("dev-cluster not serving after 2 minutes\n%s", stderr.String())
		}
	}
	if len(bootstrap) != 3 {
		t.Fatalf("bootstrap servers %v", bootstrap)
	}
	all := []int32{1, 2, 3}
	waitViews(t, bootstrap, "three brokers and one controller on every dev-cluster node", agreedController(all, all))
	// Leaderships on every node, so that each stop has work for the
	// controller (a node leading nothing is fenced in one heartbeat).
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...))
	if err != nil {
		t.Fatal(err)
	}
	createReplicatedTopic(t, cl, "dev", 3, 3, nil)
	cl.Close()

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range lines { // drain until the pipe closes
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("dev-cluster exit: %v\n%s", err, stderr.String())
		}
	case <-ctx.Done():
		t.Fatalf("dev-cluster still running 2 minutes after SIGINT\n%s", stderr.String())
	}
	// The last node to stop finds no broker left to take its leaderships
	// and stops at once, not after waiting out the bound for a quorum
	// that has gone.
	if strings.Contains(stderr.String(), "controlled shutdown not confirmed") {
		t.Errorf("a node waited out its controlled shutdown:\n%s", stderr.String())
	}
	for _, a := range bootstrap {
		if _, err := viewOf(context.Background(), a); err == nil {
			t.Errorf("node %s still answers after dev-cluster exited", a)
		}
	}
}

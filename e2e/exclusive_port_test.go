package e2e

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/riffle/riffle/internal/brokertest"
)

// TestSecondBrokerOnSamePortFails starts a second riffle on the first one's
// port: it must fail at start, naming the address and the cause, and the
// first must keep all the clients.
func TestSecondBrokerOnSamePortFails(t *testing.T) {
	first := brokertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, brokertest.Binary(t),
		"--data-dir", t.TempDir(), "--listen", first.Addr(), "--admin-listen", "127.0.0.1:0").CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("second broker on %s: want a non-zero exit, got %v\n%s", first.Addr(), err, out)
	}
	if want := "listen " + first.Addr() + ": address already in use"; !strings.Contains(string(out), want) {
		t.Errorf("second broker's output lacks %q:\n%s", want, out)
	}
	by := startBystander(t, first.Addr())
	by.waitProgress(t, 20, 30*time.Second)
	by.check(t, 10*time.Second)
}

package e2e

import (
	"testing"
	"time"

	"github.com/riffle/riffle/internal/brokertest"
)

// TestBystanderSeesAHealthyBroker checks the harness itself: with nobody
// abusing the broker, the bystander makes progress within its bound.
func TestBystanderSeesAHealthyBroker(t *testing.T) {
	b := brokertest.Start(t)
	by := startBystander(t, b.Addr())
	by.waitProgress(t, 20, 30*time.Second)
	before := brokerUsage(t, b)
	if before.rssBytes <= 0 || before.cpu < 0 {
		t.Fatalf("broker usage %+v", before)
	}
	by.check(t, 5*time.Second)
}

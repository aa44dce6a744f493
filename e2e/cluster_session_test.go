package e2e

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
)

// TestClusterSessionTimeoutConfig: with cluster.broker_session_timeout_ms
// 3000 and cluster.broker_heartbeat_interval_ms 500, the brokers stay
// unfenced, and a broker killed with -9 is fenced about 3 s later: well
// before the default 9 s session could expire (at least 7 s after the
// kill with the default 2 s heartbeat).
func TestClusterSessionTimeoutConfig(t *testing.T) {
	c := brokertest.StartCluster(t, 3, "--set", "cluster.broker_session_timeout_ms=3000",
		"--set", "cluster.broker_heartbeat_interval_ms=500")
	all := []int32{1, 2, 3}
	views := waitViews(t, c.Addrs(), "three brokers and one controller on every node", agreedController(all, all))
	controller := views[0].controller
	victim := controller%3 + 1
	survivor := c.Node(controller)
	c.Node(victim).Kill()
	killed := time.Now()
	others := slices.DeleteFunc(slices.Clone(all), func(id int32) bool { return id == victim })
	waitMetadata(t, survivor.Addr(), fencingWait, "the killed broker fenced", func(m *kmsg.MetadataResponse) bool {
		return slices.Equal(brokerIDs(m), others)
	})
	took := time.Since(killed)
	t.Logf("broker %d fenced %v after kill -9 (session timeout 3 s)", victim, took.Round(time.Millisecond))
	if took > 6500*time.Millisecond {
		t.Errorf("fenced %v after the kill, want about the configured 3 s session", took)
	}
}

package e2e

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
	"github.com/riffle/riffle/internal/kafkatest"
)

// brokerNoFile is the descriptor limit of the brokers below: 256 reserved,
// then segment files and 2 per connection.
const brokerNoFile = 400

// TestConnectionsRefusedAtDescriptorLimit opens connections to a broker
// with few descriptors until it refuses them: it refuses (accepts and
// closes) rather than running out of descriptors, keeps serving the
// connections it has, and accepts again once some close.
func TestConnectionsRefusedAtDescriptorLimit(t *testing.T) {
	br := brokertest.StartWithNoFile(t, brokerNoFile, "--set", "log.open_files_max=64")
	wantMax := (brokerNoFile - 256 - 64) / 2
	if want := "max_connections=" + strconv.Itoa(wantMax); !strings.Contains(br.Output(), want) {
		t.Fatalf("broker did not log %q", want)
	}
	by := startBystander(t, br.Addr())
	by.waitProgress(t, 10, 30*time.Second)

	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for refused := 0; refused < 5; {
		if len(held) > wantMax {
			t.Fatalf("%d connections held, above the limit of %d", len(held), wantMax)
		}
		c, err := net.DialTimeout("tcp", br.Addr(), ioTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if apiVersions(c) != nil {
			c.Close()
			refused++
			continue
		}
		held = append(held, c)
	}
	t.Logf("%d connections held beside the bystander's", len(held))
	if len(held) < wantMax/2 {
		t.Errorf("only %d connections accepted, limit %d", len(held), wantMax)
	}
	metrics := httpGet(t, "http://"+br.AdminAddr()+"/metrics", 200)
	if strings.Contains(metrics, "riffle_netio_refused_connections_total 0\n") {
		t.Error("refused connections not counted")
	}
	httpGet(t, "http://"+br.AdminAddr()+"/readyz", 200) // full, still accepting
	for _, c := range held {
		if err := apiVersions(c); err != nil {
			t.Fatalf("held connection no longer served: %v", err)
		}
	}
	by.waitProgress(t, by.consumedNow()+10, 30*time.Second)

	for _, c := range held[:5] {
		c.Close()
	}
	waitFor(t, 30*time.Second, "a new connection accepted", func() bool {
		c, err := net.DialTimeout("tcp", br.Addr(), ioTimeout)
		if err != nil {
			return false
		}
		defer c.Close()
		return apiVersions(c) == nil
	})
	by.check(t, 5*time.Second)
}

// TestCreateTopicsBeyondDescriptors asks for more partitions than the
// broker has descriptors for: the request fails, and the listener, the
// readiness check and a bystander carry on.
func TestCreateTopicsBeyondDescriptors(t *testing.T) {
	br := brokertest.StartWithNoFile(t, brokerNoFile) // log.open_files_max 100000: lowered
	by := startBystander(t, br.Addr())
	by.waitProgress(t, 10, 30*time.Second)

	if code, err := requestCreateTopic(newClient(t, br.Addr()), "too-many-files", 1000); err == nil {
		t.Logf("CreateTopics of 1000 partitions: error code %d", code)
	}

	for range 20 {
		expectServing(t, br.Addr())
	}
	httpGet(t, "http://"+br.AdminAddr()+"/readyz", 200)
	by.waitProgress(t, by.consumedNow()+10, 30*time.Second)
	by.check(t, 5*time.Second)
	if out := br.Output(); strings.Contains(out, "accept failed") {
		t.Errorf("the broker ran out of descriptors:\n%s", out)
	}
}

// apiVersions sends ApiVersions on c and waits for the answer.
func apiVersions(c net.Conn) error {
	req := kmsg.NewPtrApiVersionsRequest()
	_, err := kafkatest.RoundTrip(c, kafkatest.Frame(req, 7), ioTimeout)
	return err
}

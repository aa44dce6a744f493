package quorum

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A forwarded registration: a new endpoint is registered and unfenced
// (epoch: the offset of its record), a known one is not, and one from a node of another cluster is refused with a message
// naming both cluster ids, carried back to the forwarding node.
func TestForwardedRegistration(t *testing.T) {
	pl := newPlanner(Options{})
	im, err := emptyImage(1).apply([]record{clusterIDRecord{ClusterID: "ours"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := Broker{ID: 2, Host: "h2", Port: 9093, Rack: "r"}
	serve := func(clusterID string) ([]record, error) {
		t.Helper()
		changes, resp, err := pl.serveRequest(brokerRegistrationRequest(clusterID, b))
		if err != nil || len(changes) != 1 {
			t.Fatalf("serveRequest: %d changes, %v", len(changes), err)
		}
		recs, err := changes[0].p.plan(im)
		changes[0].answer(changeResult{}, err)
		// Through the wire, as the transport carries it.
		wire := kmsg.NewPtrBrokerRegistrationResponse()
		wire.SetVersion(brokerRegistrationVersion)
		if err := wire.ReadFrom(resp.AppendTo(nil)); err != nil {
			t.Fatal(err)
		}
		return recs, brokerRegistrationResult(wire)
	}
	recs, err := serve("ours")
	if err != nil || len(recs) != 2 {
		t.Fatalf("new broker: %v %v", recs, err)
	}
	if im, err = im.apply(recs, im.Offset+int64(len(recs))); err != nil {
		t.Fatal(err)
	}
	if got, _ := im.Broker(2); got.Host != "h2" || got.Port != 9093 || got.Rack != "r" || got.Fenced || got.Epoch != 1 {
		t.Fatalf("registered %+v", got)
	}
	if recs, err := serve(""); err != nil || len(recs) != 0 {
		t.Fatalf("known broker, no cluster id yet: %v %v", recs, err)
	}
	_, err = serve("theirs")
	if !errors.Is(err, ErrInconsistentClusterID) || !strings.Contains(err.Error(), "theirs") || !strings.Contains(err.Error(), "ours") {
		t.Fatalf("another cluster's node: %v", err)
	}
}

// TestClusterOptionsHeartbeat: zero durations take Kafka's defaults, and a
// heartbeat interval not below the session timeout is refused.
func TestClusterOptionsHeartbeat(t *testing.T) {
	co, err := ClusterOptions{}.withDefaults()
	if err != nil || co.SessionTimeout != DefaultBrokerSessionTimeout || co.HeartbeatInterval != DefaultBrokerHeartbeatInterval {
		t.Errorf("defaults: %+v, %v", co, err)
	}
	if _, err := (ClusterOptions{SessionTimeout: time.Second, HeartbeatInterval: time.Second}).withDefaults(); err == nil {
		t.Error("a heartbeat interval equal to the session timeout was accepted")
	}
	if _, err := (ClusterOptions{SessionTimeout: time.Second}).withDefaults(); err == nil {
		t.Error("the default 2 s heartbeat interval with a 1 s session timeout was accepted")
	}
}

package quorum

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestControllerAPIsServeEveryForwardedChange: every request the
// controller serves as a forwarded change (serveRequest) is accepted on
// the cluster listener; a key left out there is forwarded by a broker and
// dropped with the connection (ACLs, SCRAM credentials, elections and
// reassignments sent to a node that was not the controller once were).
func TestControllerAPIsServeEveryForwardedChange(t *testing.T) {
	pl := &planner{}
	for key := int16(0); key <= kmsg.MaxKey; key++ {
		req := kmsg.RequestForKey(key)
		if req == nil {
			continue
		}
		if _, _, err := pl.serveRequest(req); err == nil && !controllerAPIs[key] {
			t.Errorf("%s is served as a forwarded change but not accepted on the cluster listener", kmsg.NameForKey(key))
		}
	}
}

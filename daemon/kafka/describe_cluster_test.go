package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDescribeCluster(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	for v := int16(0); v <= 1; v++ {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.SetVersion(v)
		resp := roundTrip[*kmsg.DescribeClusterResponse](t, s.b, req)
		if resp.ErrorCode != 0 || resp.ClusterID == "" || resp.ControllerID != stackNodeID {
			t.Fatalf("v%d: %+v", v, resp)
		}
		if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != stackNodeID || resp.Brokers[0].Port != 9092 {
			t.Fatalf("v%d brokers %+v", v, resp.Brokers)
		}
		if resp.ClusterAuthorizedOperations != -2147483648 {
			t.Errorf("v%d: operations %d not asked for", v, resp.ClusterAuthorizedOperations)
		}
	}
	req := kmsg.NewPtrDescribeClusterRequest()
	req.SetVersion(1)
	req.EndpointType = 2
	if resp := roundTrip[*kmsg.DescribeClusterResponse](t, s.b, req); resp.ErrorCode != kerr.UnsupportedEndpointType.Code {
		t.Fatalf("controllers endpoint: error %d", resp.ErrorCode)
	}
}

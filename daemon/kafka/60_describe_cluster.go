package kafka

// DescribeCluster v0-1 (KIP-700, KIP-919): the cluster id, the active
// controller and every registered unfenced broker with its rack, from the
// metadata image. Endpoint type 2 (controllers) is
// UNSUPPORTED_ENDPOINT_TYPE: every voter is also a broker, and clients
// reach the quorum through the brokers. v2 (fenced brokers listed on
// request) is not in the request decoder's schemas yet.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(&api{key: 60, minVersion: 0, maxVersion: 1, serve: serveDescribeCluster})
}

// clusterOperationsAll is the authorized-operations bit set of the cluster
// with no authorizer: CREATE(5), ALTER(7), DESCRIBE(8), CLUSTER_ACTION(9),
// DESCRIBE_CONFIGS(10), ALTER_CONFIGS(11), IDEMPOTENT_WRITE(12).
const clusterOperationsAll = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12

// endpointTypeBrokers is DescribeCluster's EndpointType for brokers (the default).
const endpointTypeBrokers = 1

func serveDescribeCluster(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	if req.Version >= 1 && req.EndpointType != endpointTypeBrokers {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		return resp, nil
	}
	im := b.ctrl.Image()
	resp.ClusterID = im.ClusterID
	resp.ControllerID = im.ControllerID
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterOperationsAll
	}
	for _, br := range im.Brokers {
		if br.Fenced {
			continue
		}
		db := kmsg.NewDescribeClusterResponseBroker()
		db.NodeID = br.ID
		db.Host, db.Port = b.endpoint(r.conn.Listener, br.ID, br.Host, br.Port)
		if br.Rack != "" {
			db.Rack = &br.Rack
		}
		resp.Brokers = append(resp.Brokers, db)
	}
	return resp, nil
}

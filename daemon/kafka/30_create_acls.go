package kafka

// CreateAcls v0-3: needs ALTER on the cluster. Invalid creations fail one
// by one; the valid ones are written together.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

func init() {
	register(&api{key: 30, minVersion: 0, maxVersion: 3, serve: serveCreateAcls})
}

func serveCreateAcls(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	code := int16(0)
	switch {
	case b.cfg.Authorizer == nil:
		code = kerr.SecurityDisabled.Code
	case !b.allowedCluster(r, kmsg.ACLOperationAlter):
		code = kerr.ClusterAuthorizationFailed.Code
	}
	var valid []quorum.ACL
	var validAt []int
	for i, c := range req.Creations {
		res := &resp.Results[i]
		res.Default()
		if res.ErrorCode = code; code != 0 {
			continue
		}
		a := aclOf(req.Version, c)
		if err := a.Validate(); err != nil {
			res.ErrorCode, res.ErrorMessage = b.errorCode(err), errorMessage(err)
			continue
		}
		valid, validAt = append(valid, a), append(validAt, i)
	}
	if len(valid) > 0 {
		if err := b.ctrl.CreateACLs(valid); err != nil {
			for _, i := range validAt {
				resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = b.errorCode(err), errorMessage(err)
			}
		}
	}
	return resp, nil
}

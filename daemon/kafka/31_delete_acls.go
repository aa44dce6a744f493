package kafka

// DeleteAcls v0-3: removes the ACLs matching each filter, answering them;
// needs ALTER on the cluster.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon/auth"
	"github.com/riffle/riffle/quorum"
)

func init() {
	register(&api{key: 31, minVersion: 0, maxVersion: 3, serve: serveDeleteAcls})
}

func serveDeleteAcls(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	code := int16(0)
	switch {
	case b.cfg.Authorizer == nil:
		code = kerr.SecurityDisabled.Code
	case !b.allowedCluster(r, kmsg.ACLOperationAlter):
		code = kerr.ClusterAuthorizationFailed.Code
	}
	acls := b.ctrl.Image().Security.ACLs()
	var remove []quorum.ACL
	seen := map[quorum.ACL]bool{}
	for i, f := range req.Filters {
		res := &resp.Results[i]
		res.Default()
		if res.ErrorCode = code; code != 0 {
			continue
		}
		pattern := f.ResourcePatternType
		if req.Version == 0 {
			pattern = kmsg.ACLResourcePatternTypeLiteral
		}
		for _, a := range acls {
			if !auth.FilterMatches(a, f.ResourceType, f.ResourceName, pattern, f.Principal, f.Host, f.Operation, f.PermissionType) {
				continue
			}
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = a.ResourceType, a.Name, a.Pattern
			m.Principal, m.Host, m.Operation, m.PermissionType = a.Principal, a.Host, a.Operation, a.Permission
			res.MatchingACLs = append(res.MatchingACLs, m)
			if !seen[a] {
				seen[a] = true
				remove = append(remove, a)
			}
		}
	}
	if len(remove) > 0 {
		if err := b.ctrl.DeleteACLs(remove); err != nil {
			for i := range resp.Results {
				resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = b.errorCode(err), errorMessage(err)
				resp.Results[i].MatchingACLs = nil
			}
		}
	}
	return resp, nil
}

package kafka

// DescribeAcls v0-3: the ACLs matching a filter; needs DESCRIBE on the
// cluster. Without an authorizer: SECURITY_DISABLED.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon/auth"
	"github.com/riffle/riffle/quorum"
)

func init() {
	register(&api{key: 29, minVersion: 0, maxVersion: 3, serve: serveDescribeAcls})
}

func serveDescribeAcls(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	switch {
	case b.cfg.Authorizer == nil:
		resp.ErrorCode = kerr.SecurityDisabled.Code
		return resp, nil
	case !b.allowedCluster(r, kmsg.ACLOperationDescribe):
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	pattern := req.ResourcePatternType
	if req.Version == 0 {
		pattern = kmsg.ACLResourcePatternTypeLiteral
	}
	type resource struct {
		typ     kmsg.ACLResourceType
		name    string
		pattern kmsg.ACLResourcePatternType
	}
	byResource := map[resource]int{}
	for _, a := range b.ctrl.Image().Security.ACLs() {
		if !auth.FilterMatches(a, req.ResourceType, req.ResourceName, pattern, req.Principal, req.Host, req.Operation, req.PermissionType) {
			continue
		}
		key := resource{a.ResourceType, a.Name, a.Pattern}
		i, ok := byResource[key]
		if !ok {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName, res.ResourcePatternType = a.ResourceType, a.Name, a.Pattern
			resp.Resources = append(resp.Resources, res)
			i = len(resp.Resources) - 1
			byResource[key] = i
		}
		e := kmsg.NewDescribeACLsResponseResourceACL()
		e.Principal, e.Host, e.Operation, e.PermissionType = a.Principal, a.Host, a.Operation, a.Permission
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, e)
	}
	return resp, nil
}

// aclOf is a CreateAcls creation as an ACL (v0: LITERAL).
func aclOf(version int16, c kmsg.CreateACLsRequestCreation) quorum.ACL {
	pattern := c.ResourcePatternType
	if version == 0 {
		pattern = kmsg.ACLResourcePatternTypeLiteral
	}
	return quorum.ACL{ResourceType: c.ResourceType, Name: c.ResourceName, Pattern: pattern,
		Principal: c.Principal, Host: c.Host, Operation: c.Operation, Permission: c.PermissionType}
}

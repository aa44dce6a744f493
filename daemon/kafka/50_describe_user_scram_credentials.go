package kafka

// DescribeUserScramCredentials v0: each user's SCRAM mechanisms and
// iterations (never salts or keys).

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(&api{key: 50, minVersion: 0, maxVersion: 0, serve: serveDescribeUserScramCredentials})
}

func serveDescribeUserScramCredentials(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !b.allowedCluster(r, kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	sec := b.ctrl.Image().Security
	users := sec.ScramUsers()
	explicit := req.Users != nil && len(req.Users) > 0
	if explicit {
		users = users[:0:0]
		for _, u := range req.Users {
			users = append(users, u.Name)
		}
	}
	count := map[string]int{}
	for _, u := range users {
		count[u]++
	}
	for _, u := range users {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = u
		mechs := sec.ScramMechanismsOf(u)
		switch {
		case count[u] > 1:
			res.ErrorCode = kerr.DuplicateResource.Code
			res.ErrorMessage = strPtr(fmt.Sprintf("user %q named more than once", u))
		case len(mechs) == 0:
			res.ErrorCode = kerr.ResourceNotFound.Code
			res.ErrorMessage = strPtr(fmt.Sprintf("attempt to describe a user credential that does not exist: %s", u))
		}
		for _, m := range mechs {
			c, _ := sec.ScramCredential(u, m)
			info := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
			info.Mechanism, info.Iterations = int8(m), c.Iterations
			res.CredentialInfos = append(res.CredentialInfos, info)
		}
		if res.ErrorCode != 0 {
			res.CredentialInfos = nil
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

func strPtr(s string) *string { return &s }

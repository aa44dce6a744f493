package kafka

// AlterUserScramCredentials v0: set (from a client-salted password) and
// remove SCRAM credentials. The checks Kafka makes per user come first;
// the users that pass change together in one metadata change.

import (
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

func init() {
	register(&api{key: 51, minVersion: 0, maxVersion: 0, serve: serveAlterUserScramCredentials})
}

func serveAlterUserScramCredentials(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	sec := b.ctrl.Image().Security
	changes := map[string][]quorum.ScramChange{}
	failed := map[string]error{}
	seen := map[string]map[quorum.ScramMechanism]bool{}
	add := func(ch quorum.ScramChange) {
		if seen[ch.User] == nil {
			seen[ch.User] = map[quorum.ScramMechanism]bool{}
		}
		switch {
		case failed[ch.User] != nil:
		case ch.User == "":
			failed[ch.User] = fmt.Errorf("%w: empty user name", kerr.UnacceptableCredential)
		case seen[ch.User][ch.Mechanism]:
			failed[ch.User] = fmt.Errorf("%w: user %q: mechanism %d named more than once", kerr.DuplicateResource, ch.User, ch.Mechanism)
		case ch.Mechanism.Hash() == nil:
			failed[ch.User] = fmt.Errorf("%w: user %q: mechanism %d", kerr.UnsupportedSaslMechanism, ch.User, ch.Mechanism)
		case ch.Delete && !hasCredential(sec, ch.User, ch.Mechanism):
			failed[ch.User] = fmt.Errorf("%w: attempt to delete a user credential that does not exist: %s %s", kerr.ResourceNotFound, ch.User, ch.Mechanism.Name())
		case !ch.Delete && (ch.Iterations < quorum.ScramIterationsMin || ch.Iterations > quorum.ScramIterationsMax):
			failed[ch.User] = fmt.Errorf("%w: iterations %d not from %d to %d", kerr.UnacceptableCredential, ch.Iterations, quorum.ScramIterationsMin, quorum.ScramIterationsMax)
		case !ch.Delete && (len(ch.Salt) == 0 || len(ch.SaltedPassword) == 0):
			failed[ch.User] = fmt.Errorf("%w: empty salt or salted password", kerr.UnacceptableCredential)
		}
		seen[ch.User][ch.Mechanism] = true
		changes[ch.User] = append(changes[ch.User], ch)
	}
	for _, d := range req.Deletions {
		add(quorum.ScramChange{User: d.Name, Mechanism: quorum.ScramMechanism(d.Mechanism), Delete: true})
	}
	for _, u := range req.Upsertions {
		add(quorum.ScramChange{User: u.Name, Mechanism: quorum.ScramMechanism(u.Mechanism),
			Iterations: u.Iterations, Salt: u.Salt, SaltedPassword: u.SaltedPassword})
	}
	users := slices.Sorted(maps.Keys(changes))
	var valid []quorum.ScramChange
	for _, u := range users {
		if failed[u] == nil {
			valid = append(valid, changes[u]...)
		}
	}
	var err error
	if len(valid) > 0 && !b.allowedCluster(r, kmsg.ACLOperationAlter) {
		err, valid = kerr.ClusterAuthorizationFailed, nil
	}
	if len(valid) > 0 {
		err = b.ctrl.AlterScramCredentials(valid)
	}
	for _, u := range users {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User = u
		e := failed[u]
		if e == nil {
			e = err
		}
		if e != nil {
			res.ErrorCode, res.ErrorMessage = b.errorCode(e), errorMessage(e)
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

func hasCredential(sec quorum.Security, user string, m quorum.ScramMechanism) bool {
	_, ok := sec.ScramCredential(user, m)
	return ok
}

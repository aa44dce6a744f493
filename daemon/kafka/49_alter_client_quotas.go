package kafka

// AlterClientQuotas v0-1: set and remove client quotas (quorum/quota.go)
// by user and client id. Each entry is checked as Kafka does (an entity
// of user and client-id each at most once, served keys, values above 0,
// whole byte rates; INVALID_REQUEST otherwise); the entries that pass
// change together in one metadata change, unless validate_only. Needs
// ALTER_CONFIGS on the cluster.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

func init() {
	register(&api{key: 49, minVersion: 0, maxVersion: 1, serve: serveAlterClientQuotas})
}

func serveAlterClientQuotas(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.AlterClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	failed := make([]error, len(req.Entries))
	var valid []quorum.QuotaChange
	for i, en := range req.Entries {
		changes, err := quotaChangesOf(en)
		if failed[i] = err; err == nil {
			valid = append(valid, changes...)
		}
	}
	var err error
	denied := !b.allowedCluster(r, kmsg.ACLOperationAlterConfigs)
	if denied {
		err = kerr.ClusterAuthorizationFailed
	} else if len(valid) > 0 && !req.ValidateOnly {
		err = b.ctrl.AlterClientQuotas(valid)
	}
	for i, en := range req.Entries {
		res := kmsg.NewAlterClientQuotasResponseEntry()
		for _, c := range en.Entity {
			rc := kmsg.NewAlterClientQuotasResponseEntryEntity()
			rc.Type, rc.Name = c.Type, c.Name
			res.Entity = append(res.Entity, rc)
		}
		e := failed[i]
		if e == nil || denied {
			e = err
		}
		if e != nil {
			res.ErrorCode, res.ErrorMessage = b.errorCode(e), errorMessage(e)
		}
		resp.Entries = append(resp.Entries, res)
	}
	return resp, nil
}

// quotaChangesOf parses and checks one entry.
func quotaChangesOf(en kmsg.AlterClientQuotasRequestEntry) ([]quorum.QuotaChange, error) {
	e, err := quorum.QuotaEntityOf(en.Entity)
	if err != nil {
		return nil, err
	}
	var changes []quorum.QuotaChange
	seen := map[string]bool{}
	for _, op := range en.Ops {
		if seen[op.Key] {
			return nil, fmt.Errorf("%w: quota key %q named more than once", kerr.InvalidRequest, op.Key)
		}
		seen[op.Key] = true
		ch := quorum.QuotaChange{Entity: e, Key: op.Key, Value: op.Value, Remove: op.Remove}
		if err := ch.Validate(); err != nil {
			return nil, err
		}
		changes = append(changes, ch)
	}
	return changes, nil
}

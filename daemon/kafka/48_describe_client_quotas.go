package kafka

// DescribeClientQuotas v0-1: the client quotas whose entity matches every
// filter component (match type 0: the name; 1: the default; 2: any name
// or the default; a match string with 0 only), and with strict only
// entities with no other parts. A filter for ip entities (connection
// quotas, not served) matches nothing. Needs DESCRIBE_CONFIGS on the
// cluster.

import (
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

func init() {
	register(&api{key: 48, minVersion: 0, maxVersion: 1, serve: serveDescribeClientQuotas})
}

// quotaEntityIP is Kafka's entity type of connection quotas by address,
// which Riffle does not have: a filter for it matches nothing.
const quotaEntityIP = "ip"

func serveDescribeClientQuotas(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	if !b.allowedCluster(r, kmsg.ACLOperationDescribeConfigs) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	match, err := quotaFilterOf(req)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = b.errorCode(err), errorMessage(err)
		return resp, nil
	}
	resp.Entries = []kmsg.DescribeClientQuotasResponseEntry{}
	for _, q := range b.ctrl.Image().Security.ClientQuotas() {
		if !match(q.Entity) {
			continue
		}
		en := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, p := range quorum.QuotaEntityWire(q.Entity) {
			c := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			c.Type, c.Name = p.Type, p.Name
			en.Entity = append(en.Entity, c)
		}
		for _, k := range slices.Sorted(maps.Keys(q.Values)) {
			v := kmsg.NewDescribeClientQuotasResponseEntryValue()
			v.Key, v.Value = k, q.Values[k]
			en.Values = append(en.Values, v)
		}
		resp.Entries = append(resp.Entries, en)
	}
	return resp, nil
}

// quotaFilterOf parses the request's filter into a predicate, refusing
// what Kafka refuses: an entity type named twice, an ip component beside
// another (INVALID_REQUEST), an unknown type (UNSUPPORTED_VERSION).
func quotaFilterOf(req *kmsg.DescribeClientQuotasRequest) (func(quorum.QuotaEntity) bool, error) {
	type part struct {
		matchType kmsg.QuotasMatchType
		name      quorum.QuotaName // for exact and default
	}
	parts := map[string]part{}
	for _, c := range req.Components {
		switch c.EntityType {
		case quorum.QuotaEntityUser, quorum.QuotaEntityClientID, quotaEntityIP:
		case "":
			return nil, fmt.Errorf("%w: empty entity type", kerr.InvalidRequest)
		default:
			return nil, fmt.Errorf("%w: unsupported quota entity type %q", kerr.UnsupportedVersion, c.EntityType)
		}
		if _, dup := parts[c.EntityType]; dup {
			return nil, fmt.Errorf("%w: entity type %q named more than once in the filter", kerr.InvalidRequest, c.EntityType)
		}
		p := part{matchType: c.MatchType}
		switch {
		case c.MatchType == kmsg.QuotasMatchTypeExact && c.Match != nil:
			p.name = quorum.QuotaNamed(*c.Match)
		case c.MatchType == kmsg.QuotasMatchTypeDefault && c.Match == nil:
			p.name = quorum.QuotaDefaultName
		case c.MatchType == kmsg.QuotasMatchTypeAny && c.Match == nil:
		case c.MatchType > kmsg.QuotasMatchTypeAny || c.MatchType < kmsg.QuotasMatchTypeExact:
			return nil, fmt.Errorf("%w: match type %d", kerr.InvalidRequest, c.MatchType)
		default:
			return nil, fmt.Errorf("%w: match type %s wants a match string only for exact", kerr.InvalidRequest, c.MatchType)
		}
		parts[c.EntityType] = p
	}
	if _, ip := parts[quotaEntityIP]; ip {
		if len(parts) > 1 {
			return nil, fmt.Errorf("%w: an ip filter component goes with no user or client-id one", kerr.InvalidRequest)
		}
		return func(quorum.QuotaEntity) bool { return false }, nil // no ip quotas
	}
	return func(e quorum.QuotaEntity) bool {
		for typ, name := range map[string]quorum.QuotaName{quorum.QuotaEntityUser: e.User, quorum.QuotaEntityClientID: e.ClientID} {
			p, named := parts[typ]
			switch {
			case !named && req.Strict && name.Set:
				return false
			case !named:
			case !name.Set:
				return false
			case p.matchType != kmsg.QuotasMatchTypeAny && p.name != name:
				return false
			}
		}
		return true
	}, nil
}

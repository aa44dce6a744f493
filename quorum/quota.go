package quorum

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client quotas live in the metadata log beside the credentials and ACLs,
// so every node enforces the same set (record type 44: one quota key of
// one entity set or removed).
const typeClientQuota recordType = 44

// Kafka's client quota keys served, and its entity types.
const (
	QuotaProducerByteRate  = "producer_byte_rate"
	QuotaConsumerByteRate  = "consumer_byte_rate"
	QuotaRequestPercentage = "request_percentage"

	QuotaEntityUser     = "user"
	QuotaEntityClientID = "client-id"
)

// quotaKeyIntegral tells the served keys, and whether each takes whole
// numbers only (Kafka's LONG keys) or any number (DOUBLE).
var quotaKeyIntegral = map[string]bool{
	QuotaProducerByteRate:  true,
	QuotaConsumerByteRate:  true,
	QuotaRequestPercentage: false,
}

// QuotaName is one part of a client quota entity: absent, a name, or the
// default (Kafka's <default>, a null name on the wire), which applies to
// every name that has no quota of its own.
type QuotaName struct {
	Set     bool
	Default bool // Name is empty
	Name    string
}

// QuotaNamed is the part that names name; QuotaDefaultName is the default.
func QuotaNamed(name string) QuotaName { return QuotaName{Set: true, Name: name} }

// QuotaDefaultName is the part that stands for every name without a quota
// of its own.
var QuotaDefaultName = QuotaName{Set: true, Default: true}

// String is the name as kafka-configs.sh shows it.
func (n QuotaName) String() string {
	switch {
	case !n.Set:
		return "-"
	case n.Default:
		return "<default>"
	}
	return n.Name
}

// Ptr is the name on the wire: nil for the default.
func (n QuotaName) Ptr() *string {
	if n.Default {
		return nil
	}
	s := n.Name
	return &s
}

// QuotaNameOf is a wire name as a QuotaName (nil: the default).
func QuotaNameOf(name *string) QuotaName {
	if name == nil {
		return QuotaDefaultName
	}
	return QuotaNamed(*name)
}

// QuotaEntity is whom a client quota applies to: a user, a client id or
// both (Kafka's entity of types "user" and "client-id").
type QuotaEntity struct {
	User     QuotaName
	ClientID QuotaName
}

func (e QuotaEntity) String() string {
	return fmt.Sprintf("user=%s client-id=%s", e.User, e.ClientID)
}

// Validate checks an entity to be changed as Kafka does: at least one
// part, and no empty name (the default is no name, not an empty one).
func (e QuotaEntity) Validate() error {
	switch {
	case !e.User.Set && !e.ClientID.Set:
		return fmt.Errorf("%w: empty quota entity", kerr.InvalidRequest)
	case e.User.Set && !e.User.Default && e.User.Name == "":
		return fmt.Errorf("%w: empty user name", kerr.InvalidRequest)
	case e.ClientID.Set && !e.ClientID.Default && e.ClientID.Name == "":
		return fmt.Errorf("%w: empty client id", kerr.InvalidRequest)
	}
	return nil
}

func compareQuotaEntity(a, b QuotaEntity) int {
	part := func(x, y QuotaName) int {
		return cmp.Or(cmpBool(x.Set, y.Set), cmpBool(x.Default, y.Default), cmp.Compare(x.Name, y.Name))
	}
	return cmp.Or(part(a.User, b.User), part(a.ClientID, b.ClientID))
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// ValidateQuotaValue checks a quota key and the value to set it to: a
// served key, a finite value not below 0 (0 throttles every request the
// most), whole for the byte rates.
func ValidateQuotaValue(key string, value float64) error {
	integral, ok := quotaKeyIntegral[key]
	switch {
	case !ok:
		return fmt.Errorf("%w: invalid quota key %q", kerr.InvalidRequest, key)
	case math.IsNaN(value) || math.IsInf(value, 0) || value < 0:
		return fmt.Errorf("%w: quota %s must be 0 or more, not %v", kerr.InvalidRequest, key, value)
	case integral && (value != math.Trunc(value) || value > math.MaxInt64):
		return fmt.Errorf("%w: quota %s takes a whole number, not %v", kerr.InvalidRequest, key, value)
	}
	return nil
}

// ClientQuota is one entity's quotas by key.
type ClientQuota struct {
	Entity QuotaEntity
	Values map[string]float64
}

// ClientQuotas lists every entity with quotas, sorted.
func (s Security) ClientQuotas() []ClientQuota {
	var out []ClientQuota
	for _, e := range slices.SortedFunc(maps.Keys(s.quotas), compareQuotaEntity) {
		out = append(out, ClientQuota{Entity: e, Values: s.quotas[e]})
	}
	return out
}

// HasClientQuotas reports whether any quota is set.
func (s Security) HasClientQuotas() bool { return len(s.quotas) > 0 }

// QuotaFor resolves key's quota for a client with user and client id by
// Kafka's precedence, most specific first:
//
//	user + client-id, user + default client-id, user,
//	default user + client-id, default user + default client-id, default user,
//	client-id, default client-id
//
// It returns the quota and the bucket its usage is measured in: the
// names of the parts the matching entity has, the actual names where it
// has a default (so each user under a default user quota is measured on
// its own). ok is false when no quota applies (unlimited).
func (s Security) QuotaFor(user, clientID, key string) (quota float64, bucket QuotaEntity, ok bool) {
	if len(s.quotas) == 0 {
		return 0, QuotaEntity{}, false
	}
	u, c, none := QuotaNamed(user), QuotaNamed(clientID), QuotaName{}
	for _, e := range [...]QuotaEntity{
		{u, c}, {u, QuotaDefaultName}, {u, none},
		{QuotaDefaultName, c}, {QuotaDefaultName, QuotaDefaultName}, {QuotaDefaultName, none},
		{none, c}, {none, QuotaDefaultName},
	} {
		if v, found := s.quotas[e][key]; found {
			if e.User.Set {
				bucket.User = u
			}
			if e.ClientID.Set {
				bucket.ClientID = c
			}
			return v, bucket, true
		}
	}
	return 0, QuotaEntity{}, false
}

// withQuota returns s with entity's key set to value, or removed.
func (s Security) withQuota(e QuotaEntity, key string, value float64, remove bool) Security {
	next := maps.Clone(s.quotas)
	if next == nil {
		next = map[QuotaEntity]map[string]float64{}
	}
	vals := maps.Clone(next[e])
	if vals == nil {
		vals = map[string]float64{}
	}
	if remove {
		delete(vals, key)
	} else {
		vals[key] = value
	}
	if len(vals) == 0 {
		delete(next, e)
	} else {
		next[e] = vals
	}
	s.quotas = next
	return s
}

// quotaRecords rebuild s's quotas (snapshots), in a fixed order.
func (s Security) quotaRecords() []record {
	var recs []record
	for _, q := range s.ClientQuotas() {
		for _, k := range slices.Sorted(maps.Keys(q.Values)) {
			recs = append(recs, clientQuotaRecord{QuotaChange{Entity: q.Entity, Key: k, Value: q.Values[k]}})
		}
	}
	return recs
}

// QuotaChange sets one quota key of an entity, or removes it.
type QuotaChange struct {
	Entity QuotaEntity
	Key    string
	Value  float64 // ignored when Remove
	Remove bool
}

// Validate checks a change as Kafka does (all INVALID_REQUEST).
func (ch QuotaChange) Validate() error {
	if err := ch.Entity.Validate(); err != nil {
		return err
	}
	if ch.Remove {
		if _, ok := quotaKeyIntegral[ch.Key]; !ok {
			return fmt.Errorf("%w: invalid quota key %q", kerr.InvalidRequest, ch.Key)
		}
		return nil
	}
	return ValidateQuotaValue(ch.Key, ch.Value)
}

// clientQuotaRecord sets or removes one quota key of one entity.
type clientQuotaRecord struct{ QuotaChange }

func (clientQuotaRecord) key() [2]byte { return [2]byte{byte(typeClientQuota), 0} }

func encodeQuotaName(e *encoder, n QuotaName) {
	e.bool(n.Set)
	e.bool(n.Default)
	e.string(n.Name)
}

func decodeQuotaName(d *decoder) QuotaName {
	return QuotaName{Set: d.bool(), Default: d.bool(), Name: d.string()}
}

func (r clientQuotaRecord) encode(e *encoder) {
	encodeQuotaName(e, r.Entity.User)
	encodeQuotaName(e, r.Entity.ClientID)
	e.string(r.Key)
	e.int64(int64(math.Float64bits(r.Value)))
	e.bool(r.Remove)
}

func decodeClientQuotaRecord(d *decoder) clientQuotaRecord {
	var r clientQuotaRecord
	r.Entity.User, r.Entity.ClientID = decodeQuotaName(d), decodeQuotaName(d)
	r.Key = d.string()
	r.Value = math.Float64frombits(uint64(d.int64()))
	r.Remove = d.bool()
	return r
}

func (r clientQuotaRecord) apply(b *imageBuilder) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("client quota of %s: %w", r.Entity, err)
	}
	b.next.Security = b.next.Security.withQuota(r.Entity, r.Key, r.Value, r.Remove)
	return nil
}

// AlterClientQuotas applies changes as one metadata change: all or none.
// An invalid change fails with kerr.InvalidRequest.
func (c *Controller) AlterClientQuotas(changes []QuotaChange) error {
	p := &proposal{plan: func(*Image) ([]record, error) { return alterQuotas(changes) }}
	_, err := c.run(p, func(ctx context.Context, r *raftRunner) (changeResult, error) {
		return r.forwarded(ctx, alterQuotasRequest(changes), alterQuotasResult)
	})
	return err
}

func alterQuotas(changes []QuotaChange) ([]record, error) {
	var recs []record
	for _, ch := range changes {
		if err := ch.Validate(); err != nil {
			return nil, fmt.Errorf("client quota of %s: %w", ch.Entity, err)
		}
		recs = append(recs, clientQuotaRecord{ch})
	}
	return recs, nil
}

// alterQuotasVersion is the AlterClientQuotas version forwarded: v1 is
// flexible, so its response carries appliedOffsetTag.
const alterQuotasVersion = 1

// alterQuotasRequest is changes as the request forwarded to the active
// controller, one entry per change.
func alterQuotasRequest(changes []QuotaChange) *kmsg.AlterClientQuotasRequest {
	r := kmsg.NewPtrAlterClientQuotasRequest()
	r.Version = alterQuotasVersion
	for _, ch := range changes {
		en := kmsg.NewAlterClientQuotasRequestEntry()
		en.Entity = QuotaEntityWire(ch.Entity)
		op := kmsg.NewAlterClientQuotasRequestEntryOp()
		op.Key, op.Value, op.Remove = ch.Key, ch.Value, ch.Remove
		en.Ops = append(en.Ops, op)
		r.Entries = append(r.Entries, en)
	}
	return r
}

// QuotaEntityWire is e as a request's entity components.
func QuotaEntityWire(e QuotaEntity) []kmsg.AlterClientQuotasRequestEntryEntity {
	var out []kmsg.AlterClientQuotasRequestEntryEntity
	for _, p := range []struct {
		typ  string
		name QuotaName
	}{{QuotaEntityUser, e.User}, {QuotaEntityClientID, e.ClientID}} {
		if p.name.Set {
			c := kmsg.NewAlterClientQuotasRequestEntryEntity()
			c.Type, c.Name = p.typ, p.name.Ptr()
			out = append(out, c)
		}
	}
	return out
}

// QuotaEntityOf parses a request's entity components: user and client-id
// each at most once (INVALID_REQUEST otherwise, ip quotas included).
func QuotaEntityOf(parts []kmsg.AlterClientQuotasRequestEntryEntity) (QuotaEntity, error) {
	var e QuotaEntity
	for _, p := range parts {
		var n *QuotaName
		switch p.Type {
		case QuotaEntityUser:
			n = &e.User
		case QuotaEntityClientID:
			n = &e.ClientID
		default:
			return QuotaEntity{}, fmt.Errorf("%w: unsupported quota entity type %q", kerr.InvalidRequest, p.Type)
		}
		if n.Set {
			return QuotaEntity{}, fmt.Errorf("%w: quota entity type %q named more than once", kerr.InvalidRequest, p.Type)
		}
		*n = QuotaNameOf(p.Name)
	}
	return e, e.Validate()
}

func alterQuotasResult(resp kmsg.Response) error {
	for _, en := range resp.(*kmsg.AlterClientQuotasResponse).Entries {
		if err := responseError(en.ErrorCode, en.ErrorMessage); err != nil {
			return err
		}
	}
	return nil
}

// serveAlterQuotas is the controller's side of a forwarded
// AlterClientQuotas: one change, its outcome in every entry.
func serveAlterQuotas(req *kmsg.AlterClientQuotasRequest, r *kmsg.AlterClientQuotasResponse) servedChange {
	var changes []QuotaChange
	var bad error
	for _, en := range req.Entries {
		e, err := QuotaEntityOf(en.Entity)
		if err != nil {
			bad = err
		}
		for _, op := range en.Ops {
			changes = append(changes, QuotaChange{Entity: e, Key: op.Key, Value: op.Value, Remove: op.Remove})
		}
	}
	return servedChange{p: &proposal{plan: func(*Image) ([]record, error) {
		if bad != nil {
			return nil, bad
		}
		return alterQuotas(changes)
	}}, answer: func(_ changeResult, err error) {
		code, msg := errorCode(err)
		for _, en := range req.Entries {
			res := kmsg.NewAlterClientQuotasResponseEntry()
			for _, c := range en.Entity {
				rc := kmsg.NewAlterClientQuotasResponseEntryEntity()
				rc.Type, rc.Name = c.Type, c.Name
				res.Entity = append(res.Entity, rc)
			}
			res.ErrorCode, res.ErrorMessage = code, msg
			r.Entries = append(r.Entries, res)
		}
	}}
}

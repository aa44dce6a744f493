package quorum

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ACLs live in the metadata log beside the SCRAM credentials, so every node
// authorizes against the same set (record types 42 and 43).
const (
	typeACL       recordType = 42
	typeRemoveACL recordType = 43
)

// ACL is one access control entry in Kafka's model: a resource pattern
// (type, name, LITERAL or PREFIXED), a principal ("User:alice", "User:*"),
// a host ("*" or an address), an operation and ALLOW or DENY.
type ACL struct {
	ResourceType kmsg.ACLResourceType
	Name         string
	Pattern      kmsg.ACLResourcePatternType
	Principal    string
	Host         string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

// String is the ACL in one line, for logs and errors.
func (a ACL) String() string {
	return fmt.Sprintf("%s %s %s on %s:%s:%s from %s", a.Permission, a.Principal, a.Operation, a.ResourceType, a.Pattern, a.Name, a.Host)
}

// Validate checks an ACL to be created: a concrete resource type,
// LITERAL or PREFIXED, a concrete operation and permission, a "User:"
// principal and a host.
func (a ACL) Validate() error {
	switch {
	case a.ResourceType < kmsg.ACLResourceTypeTopic || a.ResourceType > kmsg.ACLResourceTypeTransactionalId:
		return fmt.Errorf("%w: resource type %s", kerr.InvalidRequest, a.ResourceType)
	case a.Pattern != kmsg.ACLResourcePatternTypeLiteral && a.Pattern != kmsg.ACLResourcePatternTypePrefixed:
		return fmt.Errorf("%w: pattern type %s", kerr.InvalidRequest, a.Pattern)
	case a.Name == "":
		return fmt.Errorf("%w: empty resource name", kerr.InvalidRequest)
	case a.Operation < kmsg.ACLOperationAll || a.Operation > kmsg.ACLOperationIdempotentWrite:
		return fmt.Errorf("%w: operation %s", kerr.InvalidRequest, a.Operation)
	case a.Permission != kmsg.ACLPermissionTypeAllow && a.Permission != kmsg.ACLPermissionTypeDeny:
		return fmt.Errorf("%w: permission %s", kerr.InvalidRequest, a.Permission)
	case !strings.HasPrefix(a.Principal, "User:") || a.Principal == "User:":
		return fmt.Errorf("%w: principal %q is not User:NAME", kerr.InvalidRequest, a.Principal)
	case a.Host == "":
		return fmt.Errorf("%w: empty host (\"*\" is any)", kerr.InvalidRequest)
	case a.ResourceType == kmsg.ACLResourceTypeCluster && (a.Name != "kafka-cluster" || a.Pattern != kmsg.ACLResourcePatternTypeLiteral):
		return fmt.Errorf("%w: the cluster resource is LITERAL kafka-cluster", kerr.InvalidRequest)
	}
	return nil
}

// ACLs lists the ACLs, sorted.
func (s Security) ACLs() []ACL {
	return slices.SortedFunc(maps.Keys(s.acls), compareACL)
}

// HasACLs reports whether any ACL exists.
func (s Security) HasACLs() bool { return len(s.acls) > 0 }

func compareACL(a, b ACL) int {
	return cmp.Or(cmp.Compare(a.ResourceType, b.ResourceType), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Pattern, b.Pattern),
		cmp.Compare(a.Principal, b.Principal), cmp.Compare(a.Host, b.Host), cmp.Compare(a.Operation, b.Operation),
		cmp.Compare(a.Permission, b.Permission))
}

func (s Security) withACL(a ACL, add bool) Security {
	next := maps.Clone(s.acls)
	if next == nil {
		next = map[ACL]struct{}{}
	}
	if add {
		next[a] = struct{}{}
	} else {
		delete(next, a)
	}
	s.acls = next
	return s
}

type aclRecord struct{ ACL ACL }
type removeACLRecord struct{ ACL ACL }

func (aclRecord) key() [2]byte       { return [2]byte{byte(typeACL), 0} }
func (removeACLRecord) key() [2]byte { return [2]byte{byte(typeRemoveACL), 0} }

func encodeACL(e *encoder, a ACL) {
	e.int8(int8(a.ResourceType))
	e.string(a.Name)
	e.int8(int8(a.Pattern))
	e.string(a.Principal)
	e.string(a.Host)
	e.int8(int8(a.Operation))
	e.int8(int8(a.Permission))
}

func decodeACL(d *decoder) ACL {
	return ACL{ResourceType: kmsg.ACLResourceType(d.int8()), Name: d.string(), Pattern: kmsg.ACLResourcePatternType(d.int8()),
		Principal: d.string(), Host: d.string(), Operation: kmsg.ACLOperation(d.int8()), Permission: kmsg.ACLPermissionType(d.int8())}
}

func (r aclRecord) encode(e *encoder)       { encodeACL(e, r.ACL) }
func (r removeACLRecord) encode(e *encoder) { encodeACL(e, r.ACL) }

func (r aclRecord) apply(b *imageBuilder) error {
	if err := r.ACL.Validate(); err != nil {
		return fmt.Errorf("acl %s: %w", r.ACL, err)
	}
	b.next.Security = b.next.Security.withACL(r.ACL, true)
	return nil
}

func (r removeACLRecord) apply(b *imageBuilder) error {
	b.next.Security = b.next.Security.withACL(r.ACL, false)
	return nil
}

// CreateACLs adds acls (those already there stay as they are), all or
// none.
func (c *Controller) CreateACLs(acls []ACL) error {
	p := &proposal{plan: func(im *Image) ([]record, error) { return createACLs(im, acls) }}
	_, err := c.run(p, func(ctx context.Context, r *raftRunner) (changeResult, error) {
		return r.forwarded(ctx, createACLsRequest(acls), aclsResult)
	})
	return err
}

// DeleteACLs removes acls, each exactly as listed (one not there is
// skipped).
func (c *Controller) DeleteACLs(acls []ACL) error {
	p := &proposal{plan: func(im *Image) ([]record, error) { return deleteACLs(im, acls), nil }}
	_, err := c.run(p, func(ctx context.Context, r *raftRunner) (changeResult, error) {
		return r.forwarded(ctx, deleteACLsRequest(acls), aclsResult)
	})
	return err
}

func createACLs(im *Image, acls []ACL) ([]record, error) {
	var recs []record
	for _, a := range acls {
		if err := a.Validate(); err != nil {
			return nil, err
		}
		if _, ok := im.Security.acls[a]; !ok {
			recs = append(recs, aclRecord{ACL: a})
		}
	}
	return recs, nil
}

func deleteACLs(im *Image, acls []ACL) []record {
	var recs []record
	for _, a := range acls {
		if _, ok := im.Security.acls[a]; ok {
			recs = append(recs, removeACLRecord{ACL: a})
		}
	}
	return recs
}

// Forwarding: CreateAcls and DeleteAcls v2 with filters that name every
// field, so each matches one ACL exactly.
const aclsVersion = 2

func createACLsRequest(acls []ACL) *kmsg.CreateACLsRequest {
	r := kmsg.NewPtrCreateACLsRequest()
	r.Version = aclsVersion
	for _, a := range acls {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = a.ResourceType, a.Name, a.Pattern
		c.Principal, c.Host, c.Operation, c.PermissionType = a.Principal, a.Host, a.Operation, a.Permission
		r.Creations = append(r.Creations, c)
	}
	return r
}

func deleteACLsRequest(acls []ACL) *kmsg.DeleteACLsRequest {
	r := kmsg.NewPtrDeleteACLsRequest()
	r.Version = aclsVersion
	for _, a := range acls {
		f := kmsg.NewDeleteACLsRequestFilter()
		f.ResourceType, f.ResourceName, f.ResourcePatternType = a.ResourceType, &a.Name, a.Pattern
		f.Principal, f.Host, f.Operation, f.PermissionType = &a.Principal, &a.Host, a.Operation, a.Permission
		r.Filters = append(r.Filters, f)
	}
	return r
}

func aclsResult(resp kmsg.Response) error {
	switch r := resp.(type) {
	case *kmsg.CreateACLsResponse:
		for _, res := range r.Results {
			if err := responseError(res.ErrorCode, res.ErrorMessage); err != nil {
				return err
			}
		}
	case *kmsg.DeleteACLsResponse:
		for _, res := range r.Results {
			if err := responseError(res.ErrorCode, res.ErrorMessage); err != nil {
				return err
			}
		}
	}
	return nil
}

// serveACLs is the controller's side of a forwarded CreateAcls or
// DeleteAcls: one change, its outcome in every result.
func serveACLs(req kmsg.Request, resp kmsg.Response) servedChange {
	var acls []ACL
	create := false
	switch req := req.(type) {
	case *kmsg.CreateACLsRequest:
		create = true
		for _, c := range req.Creations {
			acls = append(acls, ACL{ResourceType: c.ResourceType, Name: c.ResourceName, Pattern: c.ResourcePatternType,
				Principal: c.Principal, Host: c.Host, Operation: c.Operation, Permission: c.PermissionType})
		}
	case *kmsg.DeleteACLsRequest:
		for _, f := range req.Filters {
			if f.ResourceName == nil || f.Principal == nil || f.Host == nil {
				continue // riffle nodes send exact filters only
			}
			acls = append(acls, ACL{ResourceType: f.ResourceType, Name: *f.ResourceName, Pattern: f.ResourcePatternType,
				Principal: *f.Principal, Host: *f.Host, Operation: f.Operation, Permission: f.PermissionType})
		}
	}
	plan := func(im *Image) ([]record, error) { return deleteACLs(im, acls), nil }
	if create {
		plan = func(im *Image) ([]record, error) { return createACLs(im, acls) }
	}
	return servedChange{p: &proposal{plan: plan}, answer: func(_ changeResult, err error) {
		code, msg := errorCode(err)
		switch r := resp.(type) {
		case *kmsg.CreateACLsResponse:
			for range acls {
				res := kmsg.NewCreateACLsResponseResult()
				res.ErrorCode, res.ErrorMessage = code, msg
				r.Results = append(r.Results, res)
			}
		case *kmsg.DeleteACLsResponse:
			for range acls {
				res := kmsg.NewDeleteACLsResponseResult()
				res.ErrorCode, res.ErrorMessage = code, msg
				r.Results = append(r.Results, res)
			}
		}
	}}
}

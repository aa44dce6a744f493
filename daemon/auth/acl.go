package auth

import (
	"net"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

// Authorizer decides requests by Kafka's ACL rules (its
// StandardAuthorizer's semantics):
//
//   - a super user may do anything;
//   - an ACL applies to a resource when its type matches and its name is
//     the resource's (LITERAL), "*" (LITERAL: any), or a prefix of it
//     (PREFIXED); to a principal when it names it or "User:*"; to a host
//     when it names it or "*";
//   - a DENY that applies, for the operation or ALL, refuses;
//   - else an ALLOW that applies allows, for the operation, ALL, or an
//     operation implying it: READ, WRITE, DELETE and ALTER imply DESCRIBE;
//     ALTER_CONFIGS implies DESCRIBE_CONFIGS;
//   - with no ACL on the resource at all, allow.everyone.if.no.acl.found
//     decides; otherwise refused.
type Authorizer struct {
	SuperUsers           []string
	AllowEveryoneIfNoACL bool
}

// Request is one authorization question.
type Request struct {
	Principal    string
	Host         string // the client's address, no port
	Operation    kmsg.ACLOperation
	ResourceType kmsg.ACLResourceType
	Name         string
}

// ClusterName is the name of the cluster resource.
const ClusterName = "kafka-cluster"

// Authorize answers req against acls.
func (a Authorizer) Authorize(acls []quorum.ACL, req Request) bool {
	if slices.Contains(a.SuperUsers, req.Principal) {
		return true
	}
	onResource, allowed := false, false
	for _, acl := range acls {
		if !resourceMatches(acl, req.ResourceType, req.Name) {
			continue
		}
		onResource = true
		if !principalMatches(acl.Principal, req.Principal) || !hostMatches(acl.Host, req.Host) {
			continue
		}
		if acl.Permission == kmsg.ACLPermissionTypeDeny {
			if acl.Operation == req.Operation || acl.Operation == kmsg.ACLOperationAll {
				return false
			}
			continue
		}
		allowed = allowed || implies(acl.Operation, req.Operation)
	}
	if !onResource {
		return a.AllowEveryoneIfNoACL
	}
	return allowed
}

func resourceMatches(acl quorum.ACL, typ kmsg.ACLResourceType, name string) bool {
	if acl.ResourceType != typ {
		return false
	}
	switch acl.Pattern {
	case kmsg.ACLResourcePatternTypeLiteral:
		return acl.Name == name || acl.Name == "*"
	case kmsg.ACLResourcePatternTypePrefixed:
		return strings.HasPrefix(name, acl.Name)
	}
	return false
}

func principalMatches(aclPrincipal, principal string) bool {
	return aclPrincipal == principal || aclPrincipal == "User:*"
}

func hostMatches(aclHost, host string) bool {
	if aclHost == "*" || aclHost == host {
		return true
	}
	a, h := net.ParseIP(aclHost), net.ParseIP(host)
	return a != nil && h != nil && a.Equal(h)
}

// implies reports whether an ALLOW for granted allows op.
func implies(granted, op kmsg.ACLOperation) bool {
	switch {
	case granted == op || granted == kmsg.ACLOperationAll:
		return true
	case op == kmsg.ACLOperationDescribe:
		return granted == kmsg.ACLOperationRead || granted == kmsg.ACLOperationWrite ||
			granted == kmsg.ACLOperationDelete || granted == kmsg.ACLOperationAlter
	case op == kmsg.ACLOperationDescribeConfigs:
		return granted == kmsg.ACLOperationAlterConfigs
	}
	return false
}

// FilterMatches reports whether acl matches a DescribeAcls or DeleteAcls
// filter: ANY (or MATCH, for patterns: any pattern that applies to the
// filter's literal name) and null fields match everything.
func FilterMatches(acl quorum.ACL, typ kmsg.ACLResourceType, name *string, pattern kmsg.ACLResourcePatternType,
	principal, host *string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) bool {
	switch {
	case typ != kmsg.ACLResourceTypeAny && typ != acl.ResourceType:
		return false
	case principal != nil && *principal != acl.Principal:
		return false
	case host != nil && *host != acl.Host:
		return false
	case op != kmsg.ACLOperationAny && op != acl.Operation:
		return false
	case perm != kmsg.ACLPermissionTypeAny && perm != acl.Permission:
		return false
	}
	switch pattern {
	case kmsg.ACLResourcePatternTypeAny:
		return name == nil || *name == acl.Name
	case kmsg.ACLResourcePatternTypeMatch:
		return name == nil || resourceMatches(acl, acl.ResourceType, *name)
	default:
		return pattern == acl.Pattern && (name == nil || *name == acl.Name)
	}
}

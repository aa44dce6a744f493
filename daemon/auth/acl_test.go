package auth

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

func acl(typ kmsg.ACLResourceType, name string, pattern kmsg.ACLResourcePatternType, principal, host string,
	op kmsg.ACLOperation, perm kmsg.ACLPermissionType) quorum.ACL {
	return quorum.ACL{ResourceType: typ, Name: name, Pattern: pattern, Principal: principal, Host: host, Operation: op, Permission: perm}
}

func TestAuthorize(t *testing.T) {
	const (
		topic   = kmsg.ACLResourceTypeTopic
		group   = kmsg.ACLResourceTypeGroup
		literal = kmsg.ACLResourcePatternTypeLiteral
		prefix  = kmsg.ACLResourcePatternTypePrefixed
		allow   = kmsg.ACLPermissionTypeAllow
		deny    = kmsg.ACLPermissionTypeDeny
	)
	acls := []quorum.ACL{
		acl(topic, "orders", literal, "User:alice", "*", kmsg.ACLOperationWrite, allow),
		acl(topic, "logs-", prefix, "User:*", "*", kmsg.ACLOperationRead, allow),
		acl(topic, "logs-secret", literal, "User:bob", "*", kmsg.ACLOperationAll, deny),
		acl(topic, "pay", literal, "User:carol", "10.0.0.1", kmsg.ACLOperationAll, allow),
		acl(group, "*", literal, "User:alice", "*", kmsg.ACLOperationRead, allow),
		acl(topic, "cfg", literal, "User:alice", "*", kmsg.ACLOperationAlterConfigs, allow),
	}
	az := Authorizer{SuperUsers: []string{"User:admin"}}
	for _, tc := range []struct {
		principal, host string
		op              kmsg.ACLOperation
		typ             kmsg.ACLResourceType
		name            string
		want            bool
	}{
		{"User:alice", "1.2.3.4", kmsg.ACLOperationWrite, topic, "orders", true},
		{"User:alice", "1.2.3.4", kmsg.ACLOperationDescribe, topic, "orders", true}, // WRITE implies DESCRIBE
		{"User:alice", "1.2.3.4", kmsg.ACLOperationRead, topic, "orders", false},
		{"User:bob", "1.2.3.4", kmsg.ACLOperationWrite, topic, "orders", false},
		{"User:bob", "1.2.3.4", kmsg.ACLOperationRead, topic, "logs-app", true},     // prefixed, User:*
		{"User:bob", "1.2.3.4", kmsg.ACLOperationRead, topic, "logs-secret", false}, // DENY wins
		{"User:eve", "1.2.3.4", kmsg.ACLOperationRead, topic, "logs-secret", true},
		{"User:carol", "10.0.0.1", kmsg.ACLOperationRead, topic, "pay", true},
		{"User:carol", "10.0.0.2", kmsg.ACLOperationRead, topic, "pay", false}, // host filter
		{"User:alice", "1.2.3.4", kmsg.ACLOperationRead, group, "any-group", true},
		{"User:alice", "1.2.3.4", kmsg.ACLOperationDescribeConfigs, topic, "cfg", true},
		{"User:alice", "1.2.3.4", kmsg.ACLOperationRead, topic, "no-acls", false}, // no ACL: refused
		{"User:admin", "1.2.3.4", kmsg.ACLOperationDelete, topic, "orders", true}, // super user
	} {
		got := az.Authorize(acls, Request{Principal: tc.principal, Host: tc.host, Operation: tc.op, ResourceType: tc.typ, Name: tc.name})
		if got != tc.want {
			t.Errorf("%s@%s %s %s:%s = %v, want %v", tc.principal, tc.host, tc.op, tc.typ, tc.name, got, tc.want)
		}
	}
	open := Authorizer{AllowEveryoneIfNoACL: true}
	if !open.Authorize(acls, Request{Principal: "User:x", Host: "h", Operation: kmsg.ACLOperationRead, ResourceType: topic, Name: "no-acls"}) {
		t.Error("allow.everyone.if.no.acl.found did not allow a resource without ACLs")
	}
	if open.Authorize(acls, Request{Principal: "User:x", Host: "h", Operation: kmsg.ACLOperationWrite, ResourceType: topic, Name: "orders"}) {
		t.Error("allow.everyone.if.no.acl.found allowed a resource with ACLs")
	}
	name := "logs-app"
	if !FilterMatches(acls[1], kmsg.ACLResourceTypeAny, &name, kmsg.ACLResourcePatternTypeMatch, nil, nil, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny) {
		t.Error("MATCH filter missed a prefixed ACL")
	}
	if FilterMatches(acls[1], topic, &name, kmsg.ACLResourcePatternTypeLiteral, nil, nil, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny) {
		t.Error("LITERAL filter matched a prefixed ACL")
	}
}

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// `riffle acl`: ACLs through DescribeAcls, CreateAcls and DeleteAcls.

type aclEntry struct {
	ResourceType string `json:"resource_type"`
	Resource     string `json:"resource"`
	Pattern      string `json:"pattern"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
}

// aclFlags name one resource, principal, host, operations and permission.
type aclFlags struct {
	topic, group, txn string
	cluster, prefixed bool
	allow, deny       string
	host, ops         string
}

func (f *aclFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.topic, "topic", "", "the topic `name` (or prefix, with --prefixed; * is every topic)")
	fs.StringVar(&f.group, "group", "", "the group `name` (or prefix)")
	fs.StringVar(&f.txn, "transactional-id", "", "the transactional `id` (or prefix)")
	fs.BoolVar(&f.cluster, "cluster", false, "the cluster resource")
	fs.BoolVar(&f.prefixed, "prefixed", false, "the name is a prefix (PREFIXED pattern)")
	fs.StringVar(&f.allow, "allow", "", "ALLOW this `principal` (User:NAME, User:* for all)")
	fs.StringVar(&f.deny, "deny", "", "DENY this `principal`")
	fs.StringVar(&f.host, "host", "*", "the client `host` it applies to")
	fs.StringVar(&f.ops, "operation", "", "comma-separated `operations`: read, write, create, delete, alter, describe, cluster_action, describe_configs, alter_configs, idempotent_write, all")
}

// acls turns the flags into ACLs, one per operation.
func (f *aclFlags) acls() ([]kmsg.CreateACLsRequestCreation, error) {
	var typ kmsg.ACLResourceType
	var name string
	n := 0
	for _, r := range []struct {
		set  bool
		typ  kmsg.ACLResourceType
		name string
	}{{f.topic != "", kmsg.ACLResourceTypeTopic, f.topic}, {f.group != "", kmsg.ACLResourceTypeGroup, f.group},
		{f.txn != "", kmsg.ACLResourceTypeTransactionalId, f.txn}, {f.cluster, kmsg.ACLResourceTypeCluster, "kafka-cluster"}} {
		if r.set {
			typ, name, n = r.typ, r.name, n+1
		}
	}
	if n != 1 {
		return nil, usageErrorf("name one resource: --topic, --group, --transactional-id or --cluster")
	}
	if (f.allow == "") == (f.deny == "") {
		return nil, usageErrorf("give one of --allow PRINCIPAL or --deny PRINCIPAL")
	}
	principal, perm := f.allow, kmsg.ACLPermissionTypeAllow
	if f.deny != "" {
		principal, perm = f.deny, kmsg.ACLPermissionTypeDeny
	}
	pattern := kmsg.ACLResourcePatternTypeLiteral
	if f.prefixed {
		pattern = kmsg.ACLResourcePatternTypePrefixed
	}
	var out []kmsg.CreateACLsRequestCreation
	for _, o := range strings.Split(f.ops, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		op, err := kmsg.ParseACLOperation(o)
		if err != nil || op <= kmsg.ACLOperationAny {
			return nil, usageErrorf("--operation %q: unknown", o)
		}
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = typ, name, pattern
		c.Principal, c.Host, c.Operation, c.PermissionType = principal, f.host, op, perm
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, usageErrorf("--operation: name at least one")
	}
	return out, nil
}

func aclList(e *env, args []string) error {
	fs := e.flags("", "List the ACLs.")
	if _, err := e.parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	cl, ctx, done, err := e.rawClient(kmsg.DescribeACLs)
	if err != nil {
		return err
	}
	defer done()
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	resp, err := req.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		return fmt.Errorf("describe ACLs: %w", err)
	}
	t := newTable("RESOURCE", "PATTERN", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION")
	out := []aclEntry{}
	for _, r := range resp.Resources {
		for _, a := range r.ACLs {
			t.add(strings.ToLower(r.ResourceType.String())+":"+r.ResourceName, r.ResourcePatternType, a.Principal, a.Host, a.Operation, a.PermissionType)
			out = append(out, aclEntry{r.ResourceType.String(), r.ResourceName, r.ResourcePatternType.String(),
				a.Principal, a.Host, a.Operation.String(), a.PermissionType.String()})
		}
	}
	return e.print(t, out)
}

func aclAdd(e *env, args []string) error {
	var f aclFlags
	fs := e.flags("", "Add ACLs: one per operation, for one principal on one resource.")
	f.register(fs)
	if _, err := e.parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	creations, err := f.acls()
	if err != nil {
		return err
	}
	cl, ctx, done, err := e.rawClient(kmsg.CreateACLs)
	if err != nil {
		return err
	}
	defer done()
	req := kmsg.NewPtrCreateACLsRequest()
	req.Creations = creations
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("create ACLs: %w", err)
	}
	var errs []error
	for i, r := range resp.Results {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", creations[i].Operation, err))
		}
	}
	return errors.Join(errs...)
}

func aclDelete(e *env, args []string) error {
	var f aclFlags
	fs := e.flags("", "Delete the ACLs the flags name exactly (one per operation).")
	f.register(fs)
	if _, err := e.parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	creations, err := f.acls()
	if err != nil {
		return err
	}
	cl, ctx, done, err := e.rawClient(kmsg.DeleteACLs)
	if err != nil {
		return err
	}
	defer done()
	req := kmsg.NewPtrDeleteACLsRequest()
	for _, c := range creations {
		flt := kmsg.NewDeleteACLsRequestFilter()
		flt.ResourceType, flt.ResourceName, flt.ResourcePatternType = c.ResourceType, &c.ResourceName, c.ResourcePatternType
		flt.Principal, flt.Host, flt.Operation, flt.PermissionType = &c.Principal, &c.Host, c.Operation, c.PermissionType
		req.Filters = append(req.Filters, flt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("delete ACLs: %w", err)
	}
	deleted := 0
	var errs []error
	for _, r := range resp.Results {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			errs = append(errs, err)
		}
		deleted += len(r.MatchingACLs)
	}
	if len(errs) == 0 && deleted == 0 {
		return errors.New("no ACL matched")
	}
	return errors.Join(errs...)
}

// rawClient is admin for commands that send kmsg requests themselves.
func (e *env) rawClient(apiKeys ...kmsg.Key) (*kgo.Client, context.Context, func(), error) {
	cl, ctx, cancel, err := e.connect()
	if err != nil {
		return nil, nil, nil, err
	}
	done := func() { cancel(); cl.Close() }
	if err := requireAPIs(ctx, kadm.NewClient(cl), apiKeys); err != nil {
		done()
		return nil, nil, nil, err
	}
	return cl, ctx, done, nil
}

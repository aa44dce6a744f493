package cli

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// `riffle quota`: client quotas by user and client id, through
// DescribeClientQuotas and AlterClientQuotas (kafka-configs.sh
// --entity-type users/clients).

// quotaEntityFlags are the flags that name an entity: a user, a client
// id, or both, each by name or as the default.
type quotaEntityFlags struct {
	user, clientID               *string
	userDefault, clientIDDefault *bool
}

func addQuotaEntityFlags(fs *flag.FlagSet, what string) quotaEntityFlags {
	return quotaEntityFlags{
		user:            fs.String("user", "", "the `user` (principal name without User:) "+what),
		userDefault:     fs.Bool("user-default", false, "the default user "+what),
		clientID:        fs.String("client-id", "", "the `client id` "+what),
		clientIDDefault: fs.Bool("client-id-default", false, "the default client id "+what),
	}
}

// parts are the entity's components; each part is named, the default
// (nil name), or absent.
func (f quotaEntityFlags) parts(fs *flag.FlagSet) (user, client *kadm.ClientQuotaEntityComponent, err error) {
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	part := func(typ, nameFlag, defaultFlag string, name *string, def bool) (*kadm.ClientQuotaEntityComponent, error) {
		switch {
		case set[nameFlag] && def:
			return nil, usageErrorf("--%s and --%s exclude each other", nameFlag, defaultFlag)
		case set[nameFlag]:
			return &kadm.ClientQuotaEntityComponent{Type: typ, Name: name}, nil
		case def:
			return &kadm.ClientQuotaEntityComponent{Type: typ}, nil
		}
		return nil, nil
	}
	if user, err = part("user", "user", "user-default", f.user, *f.userDefault); err != nil {
		return nil, nil, err
	}
	client, err = part("client-id", "client-id", "client-id-default", f.clientID, *f.clientIDDefault)
	return user, client, err
}

type quotaEntry struct {
	User     *string            `json:"user,omitempty"`      // "<default>" for the default
	ClientID *string            `json:"client_id,omitempty"` // "<default>" for the default
	Values   map[string]float64 `json:"values"`
}

func quotaName(c kadm.ClientQuotaEntityComponent) string {
	if c.Name == nil {
		return "<default>"
	}
	return *c.Name
}

func quotaDescribe(e *env, args []string) error {
	fs := e.flags("", "List client quotas: all, or those of the entities named (a user's\n"+
		"include its user and client id quotas; --strict leaves those out).")
	f := addQuotaEntityFlags(fs, "to list")
	strict := fs.Bool("strict", false, "only entities with exactly the parts named")
	if _, err := e.parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	user, client, err := f.parts(fs)
	if err != nil {
		return err
	}
	var comps []kadm.DescribeClientQuotaComponent
	for _, p := range []*kadm.ClientQuotaEntityComponent{user, client} {
		switch {
		case p == nil:
		case p.Name == nil:
			comps = append(comps, kadm.DescribeClientQuotaComponent{Type: p.Type, MatchType: kmsg.QuotasMatchTypeDefault})
		default:
			comps = append(comps, kadm.DescribeClientQuotaComponent{Type: p.Type, MatchName: p.Name, MatchType: kmsg.QuotasMatchTypeExact})
		}
	}
	adm, ctx, done, err := e.admin(kmsg.DescribeClientQuotas)
	if err != nil {
		return err
	}
	defer done()
	described, err := adm.DescribeClientQuotas(ctx, *strict, comps)
	if err != nil {
		return fmt.Errorf("describe client quotas: %w", err)
	}
	t := newTable("USER", "CLIENT-ID", "QUOTA", "VALUE")
	out := []quotaEntry{}
	for _, q := range described {
		en := quotaEntry{Values: map[string]float64{}}
		for _, c := range q.Entity {
			name := quotaName(c)
			switch c.Type {
			case "user":
				en.User = &name
			case "client-id":
				en.ClientID = &name
			}
		}
		for _, v := range q.Values {
			en.Values[v.Key] = v.Value
		}
		for _, k := range slices.Sorted(maps.Keys(en.Values)) {
			t.add(orDash(en.User), orDash(en.ClientID), k, strconv.FormatFloat(en.Values[k], 'f', -1, 64))
		}
		out = append(out, en)
	}
	return e.print(t, out)
}

func orDash(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

func quotaAlter(e *env, args []string) error {
	fs := e.flags("", "Set and remove client quotas of one entity: a user, a client id, or a user's\n"+
		"client id, each by name or the default (producer_byte_rate, consumer_byte_rate\n"+
		"in bytes/s; request_percentage in percent of one request thread).")
	f := addQuotaEntityFlags(fs, "to alter")
	sets := keyValues{}
	fs.Var(sets, "set", "set quota `key=value`, e.g. producer_byte_rate=1048576 (repeatable)")
	var deletes []string
	fs.Func("delete", "remove quota `key` (repeatable)", func(k string) error {
		deletes = append(deletes, k)
		return nil
	})
	validate := fs.Bool("validate-only", false, "check the change on the broker without making it")
	if _, err := e.parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	user, client, err := f.parts(fs)
	if err != nil {
		return err
	}
	if user == nil && client == nil {
		return usageErrorf("no entity: give --user, --user-default, --client-id or --client-id-default")
	}
	if len(sets)+len(deletes) == 0 {
		return usageErrorf("nothing to change: give --set key=value or --delete key")
	}
	entry := kadm.AlterClientQuotaEntry{}
	for _, p := range []*kadm.ClientQuotaEntityComponent{user, client} {
		if p != nil {
			entry.Entity = append(entry.Entity, *p)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(sets)) {
		v, err := strconv.ParseFloat(*sets[k], 64)
		if err != nil {
			return usageErrorf("--set %s=%s: not a number", k, *sets[k])
		}
		entry.Ops = append(entry.Ops, kadm.AlterClientQuotaOp{Key: k, Value: v})
	}
	for _, k := range deletes {
		entry.Ops = append(entry.Ops, kadm.AlterClientQuotaOp{Key: k, Remove: true})
	}
	adm, ctx, done, err := e.admin(kmsg.AlterClientQuotas)
	if err != nil {
		return err
	}
	defer done()
	alter := adm.AlterClientQuotas
	if *validate {
		alter = adm.ValidateAlterClientQuotas
	}
	res, err := alter(ctx, []kadm.AlterClientQuotaEntry{entry})
	if err != nil {
		return fmt.Errorf("alter client quotas: %w", err)
	}
	if len(res) != 1 {
		return errors.New("alter client quotas: no answer for the entity")
	}
	name := entry.Entity.String()
	if r := res[0]; r.Err != nil {
		msg := r.Err
		if r.ErrMessage != "" {
			msg = fmt.Errorf("%w: %s", r.Err, r.ErrMessage)
		}
		e.fail(name, msg)
		return errReported
	}
	t := newTable("ENTITY", "RESULT")
	t.add(name, "ok")
	return e.print(t, []string{name})
}

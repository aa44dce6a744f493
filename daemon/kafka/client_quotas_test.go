package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func quotaEntry(ops map[string]float64, remove bool, parts ...[2]*string) kmsg.AlterClientQuotasRequestEntry {
	en := kmsg.NewAlterClientQuotasRequestEntry()
	for _, p := range parts {
		c := kmsg.NewAlterClientQuotasRequestEntryEntity()
		c.Type, c.Name = *p[0], p[1]
		en.Entity = append(en.Entity, c)
	}
	for k, v := range ops {
		op := kmsg.NewAlterClientQuotasRequestEntryOp()
		op.Key, op.Value, op.Remove = k, v, remove
		en.Ops = append(en.Ops, op)
	}
	return en
}

func sp(s string) *string { return &s }

var (
	userType   = sp("user")
	clientType = sp("client-id")
)

func alterQuotas(t *testing.T, b *Broker, validateOnly bool, entries ...kmsg.AlterClientQuotasRequestEntry) []int16 {
	t.Helper()
	req := kmsg.NewPtrAlterClientQuotasRequest()
	req.Version, req.ValidateOnly, req.Entries = 1, validateOnly, entries
	resp := roundTrip[*kmsg.AlterClientQuotasResponse](t, b, req)
	if len(resp.Entries) != len(entries) {
		t.Fatalf("%d entries answered for %d", len(resp.Entries), len(entries))
	}
	var codes []int16
	for i, en := range resp.Entries {
		if len(en.Entity) != len(entries[i].Entity) {
			t.Fatalf("entry %d: entity %+v, sent %+v", i, en.Entity, entries[i].Entity)
		}
		codes = append(codes, en.ErrorCode)
	}
	return codes
}

// describeQuotas returns the entries as "user/client-id" strings
// (<default> for a default, - for absent) with their values.
func describeQuotas(t *testing.T, b *Broker, strict bool, comps ...kmsg.DescribeClientQuotasRequestComponent) (int16, map[string]map[string]float64) {
	t.Helper()
	req := kmsg.NewPtrDescribeClientQuotasRequest()
	req.Version, req.Strict, req.Components = 1, strict, comps
	resp := roundTrip[*kmsg.DescribeClientQuotasResponse](t, b, req)
	out := map[string]map[string]float64{}
	for _, en := range resp.Entries {
		names := map[string]string{"user": "-", "client-id": "-"}
		for _, c := range en.Entity {
			names[c.Type] = "<default>"
			if c.Name != nil {
				names[c.Type] = *c.Name
			}
		}
		vals := map[string]float64{}
		for _, v := range en.Values {
			vals[v.Key] = v.Value
		}
		out[names["user"]+"/"+names["client-id"]] = vals
	}
	return resp.ErrorCode, out
}

func component(typ string, m kmsg.QuotasMatchType, name *string) kmsg.DescribeClientQuotasRequestComponent {
	c := kmsg.NewDescribeClientQuotasRequestComponent()
	c.EntityType, c.MatchType, c.Match = typ, m, name
	return c
}

// TestAlterClientQuotas: valid entries apply, invalid ones are refused
// with INVALID_REQUEST each (unknown key, negative values, fractional
// byte rates, an empty user name, an empty, repeated or ip entity),
// validate_only changes nothing, and remove drops a key.
func TestAlterClientQuotas(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	alice := [2]*string{userType, sp("alice")}
	app := [2]*string{clientType, sp("app")}
	defUser := [2]*string{userType, nil}
	codes := alterQuotas(t, s.b, false,
		quotaEntry(map[string]float64{"producer_byte_rate": 102400, "request_percentage": 50}, false, alice),
		quotaEntry(map[string]float64{"consumer_byte_rate": 2048}, false, alice, app),
		quotaEntry(map[string]float64{"producer_byte_rate": 4096}, false, defUser),
		quotaEntry(map[string]float64{"bogus": 1}, false, app),
		quotaEntry(map[string]float64{"producer_byte_rate": -5}, false, app),
		quotaEntry(map[string]float64{"consumer_byte_rate": 1}, false, [2]*string{userType, sp("")}),
		quotaEntry(map[string]float64{"consumer_byte_rate": 1.5}, false, app),
		quotaEntry(map[string]float64{"consumer_byte_rate": 1}, false),
		quotaEntry(map[string]float64{"consumer_byte_rate": 1}, false, app, app),
		quotaEntry(map[string]float64{"consumer_byte_rate": 1}, false, [2]*string{sp("ip"), sp("1.2.3.4")}),
	)
	want := []int16{0, 0, 0}
	for range 7 {
		want = append(want, kerr.InvalidRequest.Code)
	}
	if !equalCodes(codes, want) {
		t.Fatalf("codes %v, want %v", codes, want)
	}
	code, got := describeQuotas(t, s.b, false)
	if code != 0 || len(got) != 3 || got["alice/-"]["producer_byte_rate"] != 102400 || got["alice/-"]["request_percentage"] != 50 ||
		got["alice/app"]["consumer_byte_rate"] != 2048 || got["<default>/-"]["producer_byte_rate"] != 4096 {
		t.Fatalf("describe all: %d %v", code, got)
	}

	if codes := alterQuotas(t, s.b, true, quotaEntry(map[string]float64{"producer_byte_rate": 1}, false, app),
		quotaEntry(map[string]float64{"producer_byte_rate": -1}, false, app)); !equalCodes(codes, []int16{0, kerr.InvalidRequest.Code}) {
		t.Fatalf("validate_only codes %v", codes)
	}
	if _, got := describeQuotas(t, s.b, false); len(got) != 3 {
		t.Fatalf("validate_only changed the quotas: %v", got)
	}
	if codes := alterQuotas(t, s.b, false, quotaEntry(map[string]float64{"request_percentage": 0}, true, alice)); !equalCodes(codes, []int16{0}) {
		t.Fatalf("remove codes %v", codes)
	}
	if _, got := describeQuotas(t, s.b, false); len(got["alice/-"]) != 1 || got["alice/-"]["producer_byte_rate"] != 102400 {
		t.Fatalf("after removing request_percentage: %v", got)
	}
}

func equalCodes(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDescribeClientQuotasFilters: exact, default and any matches, strict,
// and the filters Kafka refuses.
func TestDescribeClientQuotasFilters(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	rate := map[string]float64{"producer_byte_rate": 1000}
	alterQuotas(t, s.b, false,
		quotaEntry(rate, false, [2]*string{userType, sp("alice")}),
		quotaEntry(rate, false, [2]*string{userType, sp("alice")}, [2]*string{clientType, sp("app")}),
		quotaEntry(rate, false, [2]*string{userType, nil}),
		quotaEntry(rate, false, [2]*string{userType, nil}, [2]*string{clientType, nil}),
		quotaEntry(rate, false, [2]*string{clientType, sp("app")}),
	)
	for _, c := range []struct {
		name   string
		strict bool
		comps  []kmsg.DescribeClientQuotasRequestComponent
		want   []string
	}{
		{"exact user", false, []kmsg.DescribeClientQuotasRequestComponent{component("user", kmsg.QuotasMatchTypeExact, sp("alice"))},
			[]string{"alice/-", "alice/app"}},
		{"exact user strict", true, []kmsg.DescribeClientQuotasRequestComponent{component("user", kmsg.QuotasMatchTypeExact, sp("alice"))},
			[]string{"alice/-"}},
		{"default user", false, []kmsg.DescribeClientQuotasRequestComponent{component("user", kmsg.QuotasMatchTypeDefault, nil)},
			[]string{"<default>/-", "<default>/<default>"}},
		{"any user strict", true, []kmsg.DescribeClientQuotasRequestComponent{component("user", kmsg.QuotasMatchTypeAny, nil)},
			[]string{"alice/-", "<default>/-"}},
		{"any client id", false, []kmsg.DescribeClientQuotasRequestComponent{component("client-id", kmsg.QuotasMatchTypeAny, nil)},
			[]string{"alice/app", "<default>/<default>", "-/app"}},
		{"user and client id", false, []kmsg.DescribeClientQuotasRequestComponent{
			component("user", kmsg.QuotasMatchTypeExact, sp("alice")), component("client-id", kmsg.QuotasMatchTypeExact, sp("app"))},
			[]string{"alice/app"}},
		{"no match", false, []kmsg.DescribeClientQuotasRequestComponent{component("user", kmsg.QuotasMatchTypeExact, sp("bob"))}, nil},
		{"ip", false, []kmsg.DescribeClientQuotasRequestComponent{component("ip", kmsg.QuotasMatchTypeAny, nil)}, nil},
	} {
		code, got := describeQuotas(t, s.b, c.strict, c.comps...)
		if code != 0 || len(got) != len(c.want) {
			t.Errorf("%s: %d %v, want %v", c.name, code, got, c.want)
			continue
		}
		for _, w := range c.want {
			if got[w]["producer_byte_rate"] != 1000 {
				t.Errorf("%s: %v, want %v", c.name, got, c.want)
			}
		}
	}
	for name, c := range map[string]struct {
		comps []kmsg.DescribeClientQuotasRequestComponent
		want  int16
	}{
		"repeated type": {[]kmsg.DescribeClientQuotasRequestComponent{component("user", kmsg.QuotasMatchTypeAny, nil), component("user", kmsg.QuotasMatchTypeDefault, nil)}, kerr.InvalidRequest.Code},
		"unknown type":  {[]kmsg.DescribeClientQuotasRequestComponent{component("group", kmsg.QuotasMatchTypeAny, nil)}, kerr.UnsupportedVersion.Code},
		"empty type":    {[]kmsg.DescribeClientQuotasRequestComponent{component("", kmsg.QuotasMatchTypeAny, nil)}, kerr.InvalidRequest.Code},
		"bad match":     {[]kmsg.DescribeClientQuotasRequestComponent{component("user", 7, nil)}, kerr.InvalidRequest.Code},
		"exact null":    {[]kmsg.DescribeClientQuotasRequestComponent{component("user", kmsg.QuotasMatchTypeExact, nil)}, kerr.InvalidRequest.Code},
		"default named": {[]kmsg.DescribeClientQuotasRequestComponent{component("user", kmsg.QuotasMatchTypeDefault, sp("x"))}, kerr.InvalidRequest.Code},
		"any named":     {[]kmsg.DescribeClientQuotasRequestComponent{component("user", kmsg.QuotasMatchTypeAny, sp("x"))}, kerr.InvalidRequest.Code},
		"ip and user":   {[]kmsg.DescribeClientQuotasRequestComponent{component("ip", kmsg.QuotasMatchTypeAny, nil), component("user", kmsg.QuotasMatchTypeAny, nil)}, kerr.InvalidRequest.Code},
	} {
		if code, _ := describeQuotas(t, s.b, false, c.comps...); code != c.want {
			t.Errorf("%s: code %d, want %d", name, code, c.want)
		}
	}
	if code, got := describeQuotas(t, s.b, true); code != 0 || len(got) != 0 {
		t.Errorf("strict without components: %d %v, want nothing", code, got)
	}
}

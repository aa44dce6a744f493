package kafka

import (
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

func describeConfigs(t *testing.T, s *brokerStack, version int16, synonyms bool, resources ...kmsg.DescribeConfigsRequestResource) []kmsg.DescribeConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.SetVersion(version)
	req.IncludeSynonyms, req.IncludeDocumentation, req.Resources = synonyms, synonyms, resources
	resp := roundTrip[*kmsg.DescribeConfigsResponse](t, s.b, req)
	if len(resp.Resources) != len(resources) {
		t.Fatalf("%d resources answered for %d", len(resp.Resources), len(resources))
	}
	return resp.Resources
}

func resource(typ kmsg.ConfigResourceType, name string, configs ...string) kmsg.DescribeConfigsRequestResource {
	return kmsg.DescribeConfigsRequestResource{ResourceType: typ, ResourceName: name, ConfigNames: configs}
}

func configByName(configs []kmsg.DescribeConfigsResponseResourceConfig) map[string]kmsg.DescribeConfigsResponseResourceConfig {
	m := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range configs {
		m[c.Name] = c
	}
	return m
}

func TestDescribeConfigsTopicSources(t *testing.T) {
	cfg := stackConfig()
	cfg.TopicDefaults = quorum.TopicDefaults{"segment.bytes": "1048576", "retention.ms": "5000"}
	s := newBrokerStack(t, cfg)
	s.createTopic("t", 1, map[string]string{"retention.ms": "1000"})
	for v := int16(1); v <= 4; v++ {
		res := describeConfigs(t, s, v, true, resource(kmsg.ConfigResourceTypeTopic, "t"))[0]
		if res.ErrorCode != 0 || len(res.Configs) != len(quorum.TopicConfigs()) {
			t.Fatalf("v%d: error %d, %d configs", v, res.ErrorCode, len(res.Configs))
		}
		got := configByName(res.Configs)
		for name, want := range map[string]struct {
			value string
			src   kmsg.ConfigSource
			syns  int
		}{
			"retention.ms":   {"1000", 1, 3}, // override, broker static, default
			"segment.bytes":  {"1048576", 4, 2},
			"cleanup.policy": {"delete", 5, 1},
		} {
			c := got[name]
			if c.Value == nil || *c.Value != want.value || c.Source != want.src || c.ReadOnly || len(c.ConfigSynonyms) != want.syns {
				t.Errorf("v%d %s: %+v", v, name, c)
				continue
			}
			if last := c.ConfigSynonyms[len(c.ConfigSynonyms)-1]; last.Source != 5 || last.Name != brokerName(name) {
				t.Errorf("v%d %s: default synonym %+v", v, name, last)
			}
			if v >= 3 && (c.ConfigType == 0 || c.Documentation == nil) {
				t.Errorf("v%d %s: type %d, doc %v", v, name, c.ConfigType, c.Documentation)
			}
		}
		if syn := got["retention.ms"].ConfigSynonyms; syn[1].Name != "log.retention.ms" || *syn[1].Value != "5000" {
			t.Errorf("v%d broker synonym %+v", v, syn[1])
		}
	}
	// Asked-for names only; no synonyms unless asked.
	res := describeConfigs(t, s, 4, false, resource(kmsg.ConfigResourceTypeTopic, "t", "retention.ms", "no.such"))[0]
	if len(res.Configs) != 1 || res.Configs[0].Name != "retention.ms" || res.Configs[0].ConfigSynonyms != nil {
		t.Errorf("filtered: %+v", res.Configs)
	}
}

func TestDescribeConfigsBrokerAndErrors(t *testing.T) {
	cfg := stackConfig()
	cfg.BrokerConfigs = []BrokerConfig{
		{Name: "log.retention.ms", Value: "5000", Default: "604800000", Static: true, Type: kmsg.ConfigTypeLong, Doc: "config.toml: log.retention_ms"},
		{Name: "broker.id", Value: "1", Default: "1", Type: kmsg.ConfigTypeInt, Doc: "config.toml: broker.node_id"},
	}
	cfg.TopicDefaults = quorum.TopicDefaults{"retention.ms": "5000"}
	s := newBrokerStack(t, cfg)
	self := strconv.Itoa(stackNodeID)
	res := describeConfigs(t, s, 4, true,
		resource(kmsg.ConfigResourceTypeBroker, self),
		resource(kmsg.ConfigResourceTypeBroker, ""),
		resource(kmsg.ConfigResourceTypeBroker, "99"),
		resource(kmsg.ConfigResourceTypeTopic, "missing"),
		resource(kmsg.ConfigResourceTypeBrokerLogger, self))
	// broker.id, and the defaults of every topic config.
	if len(res[0].Configs) != 1+len(quorum.TopicConfigs()) {
		t.Fatalf("broker: %+v", res[0].Configs)
	}
	broker := configByName(res[0].Configs)
	for name, want := range map[string]struct {
		value    string
		src      kmsg.ConfigSource
		syns     []string
		readOnly bool
	}{
		"log.retention.ms": {"5000", kmsg.ConfigSourceStaticBrokerConfig, []string{"5000", "604800000"}, false},
		"log.roll.ms":      {"604800000", kmsg.ConfigSourceDefaultConfig, []string{"604800000"}, false},
		"broker.id":        {"1", kmsg.ConfigSourceDefaultConfig, []string{"1"}, true},
	} {
		c := broker[name]
		if c.Value == nil || *c.Value != want.value || c.Source != want.src || c.ReadOnly != want.readOnly || c.Documentation == nil || len(c.ConfigSynonyms) != len(want.syns) {
			t.Errorf("broker %s: %+v", name, c)
			continue
		}
		for i, syn := range c.ConfigSynonyms {
			if syn.Name != name || *syn.Value != want.syns[i] {
				t.Errorf("broker %s synonym %d: %+v", name, i, syn)
			}
		}
	}
	if v0 := configByName(describeConfigs(t, s, 0, false, resource(kmsg.ConfigResourceTypeBroker, self))[0].Configs); !v0["broker.id"].IsDefault || v0["log.retention.ms"].IsDefault {
		t.Errorf("broker v0: %+v", v0)
	}
	if res[0].ErrorCode != 0 || res[1].ErrorCode != 0 || len(res[1].Configs) != 0 {
		t.Errorf("broker: %d, cluster default: %d with %d configs", res[0].ErrorCode, res[1].ErrorCode, len(res[1].Configs))
	}
	for i, code := range []int16{kerr.InvalidRequest.Code, kerr.UnknownTopicOrPartition.Code, kerr.InvalidRequest.Code} {
		if r := res[i+2]; r.ErrorCode != code || r.ErrorMessage == nil || len(r.Configs) != 0 {
			t.Errorf("resource %q type %d: %v", r.ResourceName, r.ResourceType, kerr.ErrorForCode(r.ErrorCode))
		}
	}
}

// brokerName is the broker config that holds topic config name's default.
func brokerName(name string) string {
	def, _ := quorum.LookupTopicConfig(name)
	return def.Broker
}

package kafka

import (
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func incrementalAlter(t *testing.T, s *brokerStack, version int16, validateOnly bool, resources ...kmsg.IncrementalAlterConfigsRequestResource) []kmsg.IncrementalAlterConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.SetVersion(version)
	req.ValidateOnly, req.Resources = validateOnly, resources
	resp := roundTrip[*kmsg.IncrementalAlterConfigsResponse](t, s.b, req)
	if len(resp.Resources) != len(resources) {
		t.Fatalf("%d resources answered for %d", len(resp.Resources), len(resources))
	}
	for i, r := range resp.Resources {
		if r.ResourceType != resources[i].ResourceType || r.ResourceName != resources[i].ResourceName {
			t.Fatalf("answer %d is for %d %q, asked %d %q", i, r.ResourceType, r.ResourceName, resources[i].ResourceType, resources[i].ResourceName)
		}
	}
	return resp.Resources
}

// op is one incremental change; value "" with DELETE sends null.
func op(name string, o kmsg.IncrementalAlterConfigOp, value string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	c := kmsg.IncrementalAlterConfigsRequestResourceConfig{Name: name, Op: o}
	if o != kmsg.IncrementalAlterConfigOpDelete {
		c.Value = &value
	}
	return c
}

func incResource(typ kmsg.ConfigResourceType, name string, ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) kmsg.IncrementalAlterConfigsRequestResource {
	return kmsg.IncrementalAlterConfigsRequestResource{ResourceType: typ, ResourceName: name, Configs: ops}
}

// overrides is a topic's config overrides as the controller's image has them.
func (s *brokerStack) overrides(topic string) map[string]string {
	s.t.Helper()
	tp := s.ctrl.Image().Topic(topic)
	if tp == nil {
		s.t.Fatalf("no topic %q", topic)
	}
	return tp.Configs
}

func checkOverrides(t *testing.T, s *brokerStack, topic string, want map[string]string) {
	t.Helper()
	if got := s.overrides(topic); !maps.Equal(got, want) {
		t.Errorf("%s overrides: got %v, want %v", topic, got, want)
	}
}

func TestIncrementalAlterConfigsOps(t *testing.T) {
	const (
		set      = kmsg.IncrementalAlterConfigOpSet
		del      = kmsg.IncrementalAlterConfigOpDelete
		appendOp = kmsg.IncrementalAlterConfigOpAppend
		subtract = kmsg.IncrementalAlterConfigOpSubtract
	)
	topic := kmsg.ConfigResourceTypeTopic
	for v := int16(0); v <= 1; v++ {
		s := newBrokerStack(t, stackConfig())
		s.createTopic("t", 1, map[string]string{"segment.ms": "600000", "flush.ms": "1000"})
		steps := []struct {
			ops  []kmsg.IncrementalAlterConfigsRequestResourceConfig
			want map[string]string
		}{
			{[]kmsg.IncrementalAlterConfigsRequestResourceConfig{op("retention.ms", set, "7200000"), op("segment.ms", del, ""), op("no.such", del, "")},
				map[string]string{"retention.ms": "7200000", "flush.ms": "1000"}},
			// From the default "delete"; appending a listed value is no change.
			{[]kmsg.IncrementalAlterConfigsRequestResourceConfig{op("cleanup.policy", appendOp, "compact, delete")},
				map[string]string{"retention.ms": "7200000", "flush.ms": "1000", "cleanup.policy": "delete,compact"}},
			{[]kmsg.IncrementalAlterConfigsRequestResourceConfig{op("cleanup.policy", subtract, "delete,absent"), op("flush.ms", del, "")},
				map[string]string{"retention.ms": "7200000", "cleanup.policy": "compact"}},
		}
		for i, st := range steps {
			before := maps.Clone(s.overrides("t"))
			if r := incrementalAlter(t, s, v, true, incResource(topic, "t", st.ops...))[0]; r.ErrorCode != 0 {
				t.Fatalf("v%d step %d validate-only: %v %v", v, i, kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
			}
			checkOverrides(t, s, "t", before)
			if r := incrementalAlter(t, s, v, false, incResource(topic, "t", st.ops...))[0]; r.ErrorCode != 0 {
				t.Fatalf("v%d step %d: %v %v", v, i, kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
			}
			checkOverrides(t, s, "t", st.want)
		}
	}
}

func TestIncrementalAlterConfigsErrors(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	s.createTopic("t", 1, map[string]string{"retention.ms": "1000"})
	s.createTopic("u", 1, nil)
	set, appendOp := kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpAppend
	topic, broker := kmsg.ConfigResourceTypeTopic, kmsg.ConfigResourceTypeBroker
	self := strconv.Itoa(stackNodeID)
	nullSet := op("retention.ms", set, "")
	nullSet.Value = nil
	cases := []struct {
		res  kmsg.IncrementalAlterConfigsRequestResource
		code int16
	}{
		{incResource(topic, "missing", op("retention.ms", set, "5")), kerr.UnknownTopicOrPartition.Code},
		{incResource(topic, "t", op("no.such", set, "5")), kerr.InvalidConfig.Code},
		{incResource(topic, "t", op("retention.ms", set, "soon")), kerr.InvalidConfig.Code},
		{incResource(topic, "t", op("segment.ms", set, "5"), op("retention.ms", set, "-7")), kerr.InvalidConfig.Code},
		{incResource(topic, "t", op("cleanup.policy", appendOp, "shred")), kerr.InvalidConfig.Code},
		{incResource(topic, "t", op("cleanup.policy", kmsg.IncrementalAlterConfigOpSubtract, "delete")), kerr.InvalidConfig.Code}, // leaves an empty list
		{incResource(topic, "t", op("retention.ms", appendOp, "5")), kerr.InvalidRequest.Code},
		{incResource(topic, "t", op("retention.ms", 7, "5")), kerr.InvalidRequest.Code},
		{incResource(topic, "t", nullSet), kerr.InvalidRequest.Code},
		{incResource(topic, "t", op("segment.ms", set, "5"), op("segment.ms", kmsg.IncrementalAlterConfigOpDelete, "")), kerr.InvalidRequest.Code},
		{incResource(broker, self, op("log.retention.ms", set, "5")), kerr.InvalidRequest.Code},
		{incResource(broker, "", op("num.partitions", set, "5")), kerr.InvalidRequest.Code},
		{incResource(broker, "99"), kerr.InvalidRequest.Code},
		{incResource(kmsg.ConfigResourceTypeBrokerLogger, self, op("kafka", set, "DEBUG")), kerr.InvalidRequest.Code},
		{incResource(broker, self), 0}, // nothing to change
	}
	for _, c := range cases {
		r := incrementalAlter(t, s, 1, false, c.res)[0]
		if r.ErrorCode != c.code || (c.code != 0) != (r.ErrorMessage != nil) {
			t.Errorf("%d %q %+v: got %v %v, want %v", c.res.ResourceType, c.res.ResourceName, c.res.Configs,
				kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage, kerr.ErrorForCode(c.code))
		}
	}
	checkOverrides(t, s, "t", map[string]string{"retention.ms": "1000"}) // all or nothing

	// A repeated resource is refused in every copy; the others go ahead.
	rs := incrementalAlter(t, s, 1, false,
		incResource(topic, "t", op("segment.ms", set, "5")),
		incResource(topic, "u", op("segment.ms", set, "6")),
		incResource(topic, "t", op("flush.ms", set, "7")))
	if rs[0].ErrorCode != kerr.InvalidRequest.Code || rs[2].ErrorCode != kerr.InvalidRequest.Code || rs[1].ErrorCode != 0 {
		t.Errorf("repeated resource: codes %d %d %d", rs[0].ErrorCode, rs[1].ErrorCode, rs[2].ErrorCode)
	}
	checkOverrides(t, s, "t", map[string]string{"retention.ms": "1000"})
	checkOverrides(t, s, "u", map[string]string{"segment.ms": "6"})
}

func alterConfigs(t *testing.T, s *brokerStack, version int16, validateOnly bool, resources ...kmsg.AlterConfigsRequestResource) []kmsg.AlterConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrAlterConfigsRequest()
	req.SetVersion(version)
	req.ValidateOnly, req.Resources = validateOnly, resources
	resp := roundTrip[*kmsg.AlterConfigsResponse](t, s.b, req)
	if len(resp.Resources) != len(resources) {
		t.Fatalf("%d resources answered for %d", len(resp.Resources), len(resources))
	}
	return resp.Resources
}

// legacyResource lists configs as name, value pairs.
func legacyResource(typ kmsg.ConfigResourceType, name string, kv ...string) kmsg.AlterConfigsRequestResource {
	r := kmsg.AlterConfigsRequestResource{ResourceType: typ, ResourceName: name}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Configs = append(r.Configs, kmsg.AlterConfigsRequestResourceConfig{Name: kv[i], Value: &kv[i+1]})
	}
	return r
}

func TestAlterConfigsReplacesOverrides(t *testing.T) {
	topic := kmsg.ConfigResourceTypeTopic
	for v := int16(0); v <= 2; v++ {
		s := newBrokerStack(t, stackConfig())
		s.createTopic("t", 1, map[string]string{"segment.ms": "600000", "flush.ms": "1000"})
		res := legacyResource(topic, "t", "retention.ms", "5000", "flush.ms", "2000")
		if r := alterConfigs(t, s, v, true, res)[0]; r.ErrorCode != 0 {
			t.Fatalf("v%d validate-only: %v %v", v, kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
		}
		checkOverrides(t, s, "t", map[string]string{"segment.ms": "600000", "flush.ms": "1000"})
		if r := alterConfigs(t, s, v, false, res)[0]; r.ErrorCode != 0 {
			t.Fatalf("v%d: %v %v", v, kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
		}
		checkOverrides(t, s, "t", map[string]string{"retention.ms": "5000", "flush.ms": "2000"})
		if r := alterConfigs(t, s, v, false, legacyResource(topic, "t"))[0]; r.ErrorCode != 0 {
			t.Fatalf("v%d clear: %v %v", v, kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
		}
		checkOverrides(t, s, "t", map[string]string{})
	}
}

func TestAlterConfigsErrors(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	s.createTopic("t", 1, map[string]string{"retention.ms": "1000"})
	topic, broker := kmsg.ConfigResourceTypeTopic, kmsg.ConfigResourceTypeBroker
	self := strconv.Itoa(stackNodeID)
	null := legacyResource(topic, "t", "segment.ms", "")
	null.Configs[0].Value = nil
	cases := []struct {
		res  kmsg.AlterConfigsRequestResource
		code int16
	}{
		{legacyResource(topic, "missing"), kerr.UnknownTopicOrPartition.Code},
		{legacyResource(topic, "t", "no.such", "1"), kerr.InvalidConfig.Code},
		{legacyResource(topic, "t", "segment.ms", "1", "retention.ms", "x"), kerr.InvalidConfig.Code},
		{legacyResource(topic, "t", "segment.ms", "1", "segment.ms", "2"), kerr.InvalidRequest.Code},
		{null, kerr.InvalidRequest.Code},
		{legacyResource(broker, self, "log.retention.ms", "1"), kerr.InvalidRequest.Code},
		{legacyResource(broker, "7"), kerr.InvalidRequest.Code},
		{legacyResource(broker, self), 0},
	}
	for _, c := range cases {
		r := alterConfigs(t, s, 2, false, c.res)[0]
		if r.ErrorCode != c.code || (c.code != 0) != (r.ErrorMessage != nil) {
			t.Errorf("%d %q %+v: got %v %v, want %v", c.res.ResourceType, c.res.ResourceName, c.res.Configs,
				kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage, kerr.ErrorForCode(c.code))
		}
	}
	rs := alterConfigs(t, s, 2, false, legacyResource(topic, "t"), legacyResource(topic, "t"))
	if rs[0].ErrorCode != kerr.InvalidRequest.Code || rs[1].ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("repeated resource: codes %d %d", rs[0].ErrorCode, rs[1].ErrorCode)
	}
	checkOverrides(t, s, "t", map[string]string{"retention.ms": "1000"})
}

// The BROKER resource with an empty name holds the cluster-wide dynamic
// defaults of topic configs: a change reaches every topic without an
// override (DescribeConfigs and the open logs), not one with an override;
// AlterConfigs replaces the whole set; bad values and configs that cannot
// change cluster-wide are refused.
func TestClusterWideBrokerConfigs(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	s.createTopic("plain", 1, nil)
	s.createTopic("own", 1, map[string]string{"retention.ms": "1000"})
	set, del, appendOp := kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpDelete, kmsg.IncrementalAlterConfigOpAppend
	broker := kmsg.ConfigResourceTypeBroker
	self := strconv.Itoa(stackNodeID)

	r := incrementalAlter(t, s, 1, false, incResource(broker, "",
		op("log.retention.ms", set, "60000"), op("log.cleanup.policy", appendOp, "compact"), op("log.roll.ms", del, "")))[0]
	if r.ErrorCode != 0 {
		t.Fatalf("cluster-wide set: %v %v", kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
	}
	if got := s.ctrl.Image().ClusterConfigs; !maps.Equal(got, map[string]string{"log.retention.ms": "60000", "log.cleanup.policy": "delete,compact"}) {
		t.Fatalf("cluster configs %v", got)
	}
	described := describeConfigs(t, s, 4, true,
		resource(kmsg.ConfigResourceTypeBroker, ""),
		resource(kmsg.ConfigResourceTypeBroker, self, "log.retention.ms"),
		resource(kmsg.ConfigResourceTypeTopic, "plain", "retention.ms"),
		resource(kmsg.ConfigResourceTypeTopic, "own", "retention.ms"))
	if c := configByName(described[0].Configs)["log.retention.ms"]; len(described[0].Configs) != 2 || *c.Value != "60000" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig || c.ReadOnly {
		t.Errorf("cluster-wide resource: %+v", described[0].Configs)
	}
	for i, want := range []struct {
		value string
		src   kmsg.ConfigSource
		syns  int
	}{
		{"60000", kmsg.ConfigSourceDynamicDefaultBrokerConfig, 2}, // dynamic, default
		{"60000", kmsg.ConfigSourceDynamicDefaultBrokerConfig, 2},
		{"1000", kmsg.ConfigSourceDynamicTopicConfig, 3}, // override, dynamic, default
	} {
		res := described[i+1]
		if len(res.Configs) != 1 || *res.Configs[0].Value != want.value || res.Configs[0].Source != want.src || len(res.Configs[0].ConfigSynonyms) != want.syns {
			t.Errorf("%q: %+v, want %+v", res.ResourceName, res.Configs, want)
		}
	}
	checkRetention := func(topic string, want int64) {
		t.Helper()
		// The manager follows image changes on its own goroutine.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			p := s.Partition(topic, 0)
			if p != nil && p.Log().Config().RetentionMs == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: retention.ms of the open log is not %d", topic, want)
			}
		}
	}
	checkRetention("plain", 60000)
	checkRetention("own", 1000)

	// AlterConfigs replaces the set: log.cleanup.policy goes.
	ac := kmsg.NewPtrAlterConfigsRequest()
	ac.SetVersion(2)
	v := "120000"
	ac.Resources = []kmsg.AlterConfigsRequestResource{{ResourceType: broker, ResourceName: "",
		Configs: []kmsg.AlterConfigsRequestResourceConfig{{Name: "log.retention.ms", Value: &v}}}}
	if resp := roundTrip[*kmsg.AlterConfigsResponse](t, s.b, ac); resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("AlterConfigs: %v", kerr.ErrorForCode(resp.Resources[0].ErrorCode))
	}
	if got := s.ctrl.Image().ClusterConfigs; !maps.Equal(got, map[string]string{"log.retention.ms": "120000"}) {
		t.Fatalf("after AlterConfigs: %v", got)
	}
	checkRetention("plain", 120000)

	for _, c := range []struct {
		res  kmsg.IncrementalAlterConfigsRequestResource
		code int16
	}{
		{incResource(broker, "", op("log.retention.ms", set, "soon")), kerr.InvalidConfig.Code},
		{incResource(broker, "", op("retention.ms", set, "5")), kerr.InvalidRequest.Code},
		{incResource(broker, "", op("log.dirs", set, "/x"), op("log.retention.ms", set, "5")), kerr.InvalidRequest.Code},
		{incResource(broker, "", op("log.retention.ms", appendOp, "5")), kerr.InvalidRequest.Code},
		{incResource(broker, self, op("log.retention.ms", set, "5")), kerr.InvalidRequest.Code},
	} {
		r := incrementalAlter(t, s, 1, false, c.res)[0]
		if r.ErrorCode != c.code || r.ErrorMessage == nil {
			t.Errorf("%q %+v: got %v, want %v", c.res.ResourceName, c.res.Configs, kerr.ErrorForCode(r.ErrorCode), kerr.ErrorForCode(c.code))
		}
	}
	if got := s.ctrl.Image().ClusterConfigs; !maps.Equal(got, map[string]string{"log.retention.ms": "120000"}) {
		t.Errorf("refused changes changed the cluster configs: %v", got)
	}
}

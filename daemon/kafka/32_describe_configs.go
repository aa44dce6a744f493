package kafka

// DescribeConfigs v0-4, for TOPIC and BROKER resources. v0 has no
// source, only whether a value is the default (DEFAULT_CONFIG).
//
// A topic reports every supported topic config with its effective value and
// source: TOPIC_CONFIG for the topic's override, STATIC_BROKER_CONFIG for a
// default set in config.toml, DEFAULT_CONFIG otherwise; with synonyms, the
// override, the broker's static default and the built-in default under the
// broker's name for the config (log.retention.ms for retention.ms).
//
// A broker (resource name: this node's id) reports every Kafka broker
// config that a config.toml key sets (Config.BrokerConfigs), all
// read-only: STATIC_BROKER_CONFIG when the file or --set gave it,
// DEFAULT_CONFIG otherwise. The cluster-wide default resource (name "")
// holds dynamic defaults only, and there are none: it answers an empty
// list. Another broker's id and other resource types are INVALID_REQUEST;
// an unknown topic is UNKNOWN_TOPIC_OR_PARTITION.

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

func init() {
	register(&api{key: 32, minVersion: 0, maxVersion: 4, serve: serveDescribeConfigs})
}

func serveDescribeConfigs(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		res := kmsg.NewDescribeConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		configs, err := b.describeResource(rr, req)
		if err != nil {
			res.ErrorCode, res.ErrorMessage = b.errorCode(err), errorMessage(err)
		}
		for _, c := range configs {
			// nil names: every config.
			if rr.ConfigNames == nil || slices.Contains(rr.ConfigNames, c.Name) {
				res.Configs = append(res.Configs, c)
			}
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

func (b *Broker) describeResource(rr kmsg.DescribeConfigsRequestResource, req *kmsg.DescribeConfigsRequest) ([]kmsg.DescribeConfigsResponseResourceConfig, error) {
	im := b.ctrl.Image()
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		t := im.Topic(rr.ResourceName)
		if t == nil {
			return nil, fmt.Errorf("%w: topic %q", kerr.UnknownTopicOrPartition, rr.ResourceName)
		}
		return b.topicConfigs(im, t, req), nil
	case kmsg.ConfigResourceTypeBroker:
		switch rr.ResourceName {
		case "":
			return clusterConfigs(im, req), nil
		case strconv.Itoa(int(b.cfg.NodeID)):
			return b.brokerConfigs(im, req), nil
		}
		return nil, fmt.Errorf("%w: broker %q: this is broker %d", kerr.InvalidRequest, rr.ResourceName, b.cfg.NodeID)
	}
	return nil, fmt.Errorf("%w: resource type %d is not served", kerr.InvalidRequest, rr.ResourceType)
}

// topicConfigs describes every config of topic t.
func (b *Broker) topicConfigs(im *quorum.Image, t *quorum.Topic, req *kmsg.DescribeConfigsRequest) []kmsg.DescribeConfigsResponseResourceConfig {
	values := b.topicDefaults(im).Describe(t.Configs)
	out := make([]kmsg.DescribeConfigsResponseResourceConfig, 0, len(values))
	for _, v := range values {
		c := describedConfig(v.Name, v.Value, v.Source, v.Type, v.Doc, req)
		c.ReadOnly = false
		if req.IncludeSynonyms {
			def, _ := quorum.LookupTopicConfig(v.Name)
			c.ConfigSynonyms = b.configSynonyms(im, def, t.Configs)
		}
		out = append(out, c)
	}
	return out
}

// configSynonyms lists where a topic config's value may come from, most
// specific first: the topic's override (when overrides is a topic's), the
// cluster-wide dynamic default, this broker's static default and the
// built-in one, the last three under the broker config's name.
func (b *Broker) configSynonyms(im *quorum.Image, def quorum.TopicConfigDef, overrides map[string]string) []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	var syns []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
	add := func(name, value string, src quorum.ConfigSource) {
		s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		s.Name, s.Value, s.Source = name, &value, kmsg.ConfigSource(src)
		syns = append(syns, s)
	}
	if v, ok := overrides[def.Name]; ok {
		add(def.Name, v, quorum.SourceTopic)
	}
	if v, ok := im.ClusterConfigs[def.Broker]; ok {
		add(def.Broker, v, quorum.SourceClusterDynamic)
	}
	if v, ok := b.cfg.TopicDefaults[def.Name]; ok {
		add(def.Broker, v, quorum.SourceBrokerStatic)
	}
	add(def.Broker, def.Default, quorum.SourceDefault)
	return syns
}

// clusterConfigs describes the cluster-wide dynamic broker configs set in
// im, as Kafka describes the default broker resource: only those set.
func clusterConfigs(im *quorum.Image, req *kmsg.DescribeConfigsRequest) []kmsg.DescribeConfigsResponseResourceConfig {
	out := make([]kmsg.DescribeConfigsResponseResourceConfig, 0, len(im.ClusterConfigs))
	for _, name := range slices.Sorted(maps.Keys(im.ClusterConfigs)) {
		def, _ := quorum.LookupClusterConfig(name) // the controller only stores these
		c := describedConfig(name, im.ClusterConfigs[name], quorum.SourceClusterDynamic, def.Type, def.Doc, req)
		c.ReadOnly = false
		out = append(out, c)
	}
	return out
}

// brokerConfigs describes this broker's configs: those config.toml sets
// (Config.BrokerConfigs), read-only unless they are the defaults of topic
// configs, which change cluster-wide (quorum.LookupClusterConfig, listed
// even when config.toml has no key for them).
func (b *Broker) brokerConfigs(im *quorum.Image, req *kmsg.DescribeConfigsRequest) []kmsg.DescribeConfigsResponseResourceConfig {
	out := make([]kmsg.DescribeConfigsResponseResourceConfig, 0, len(b.cfg.BrokerConfigs))
	listed := map[string]bool{}
	for _, bc := range b.cfg.BrokerConfigs {
		listed[bc.Name] = true
		if def, ok := quorum.LookupClusterConfig(bc.Name); ok {
			out = append(out, b.clusterConfigEntry(im, def, bc.Doc, req))
			continue
		}
		src := quorum.SourceDefault
		if bc.Static {
			src = quorum.SourceBrokerStatic
		}
		c := describedConfig(bc.Name, bc.Value, src, quorum.ConfigType(bc.Type), bc.Doc, req)
		if req.IncludeSynonyms && bc.Static {
			s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			s.Name, s.Value, s.Source = bc.Name, &bc.Default, kmsg.ConfigSourceDefaultConfig
			c.ConfigSynonyms = append(c.ConfigSynonyms, s)
		}
		out = append(out, c)
	}
	for _, def := range quorum.TopicConfigs() {
		if !listed[def.Broker] {
			out = append(out, b.clusterConfigEntry(im, def, def.Doc, req))
		}
	}
	slices.SortFunc(out, func(x, y kmsg.DescribeConfigsResponseResourceConfig) int {
		return cmp.Compare(x.Name, y.Name)
	})
	return out
}

// clusterConfigEntry describes a broker config that is the default of
// topic config def, with every source below its value as synonyms: a
// cluster-wide dynamic value wins over config.toml's.
func (b *Broker) clusterConfigEntry(im *quorum.Image, def quorum.TopicConfigDef, doc string, req *kmsg.DescribeConfigsRequest) kmsg.DescribeConfigsResponseResourceConfig {
	v, _ := b.clusterConfig(im, def.Broker) // def.Broker is a cluster config
	c := describedConfig(def.Broker, v.Value, v.Source, v.Type, doc, req)
	c.ReadOnly = false
	if req.IncludeSynonyms {
		c.ConfigSynonyms = b.configSynonyms(im, def, nil)
	}
	return c
}

// describedConfig builds one read-only config entry; synonyms list the
// entry itself, documentation is given when asked for.
func describedConfig(name, value string, src quorum.ConfigSource, typ quorum.ConfigType, doc string, req *kmsg.DescribeConfigsRequest) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name, c.Value, c.ReadOnly = name, &value, true
	c.Source = kmsg.ConfigSource(src)
	c.IsDefault = src == quorum.SourceDefault
	c.ConfigType = kmsg.ConfigType(typ)
	if req.IncludeDocumentation {
		c.Documentation = &doc
	}
	if req.IncludeSynonyms {
		s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		s.Name, s.Value, s.Source = name, &value, c.Source
		c.ConfigSynonyms = []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{s}
	}
	return c
}

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
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

func init() {
	register(&api{key: 32, minVersion: 0, maxVersion: 4, serve: serveDescribeConfigs})
}

// brokerConfigNames maps topic configs to the broker configs that hold
// their defaults, where Kafka names them differently.
var brokerConfigNames = map[string]string{
	"cleanup.policy":                  "log.cleanup.policy",
	"delete.retention.ms":             "log.cleaner.delete.retention.ms",
	"file.delete.delay.ms":            "log.segment.delete.delay.ms",
	"flush.messages":                  "log.flush.interval.messages",
	"flush.ms":                        "log.flush.interval.ms",
	"index.interval.bytes":            "log.index.interval.bytes",
	"max.compaction.lag.ms":           "log.cleaner.max.compaction.lag.ms",
	"max.message.bytes":               "message.max.bytes",
	"message.timestamp.after.max.ms":  "log.message.timestamp.after.max.ms",
	"message.timestamp.before.max.ms": "log.message.timestamp.before.max.ms",
	"message.timestamp.type":          "log.message.timestamp.type",
	"min.cleanable.dirty.ratio":       "log.cleaner.min.cleanable.ratio",
	"min.compaction.lag.ms":           "log.cleaner.min.compaction.lag.ms",
	"preallocate":                     "log.preallocate",
	"retention.bytes":                 "log.retention.bytes",
	"retention.ms":                    "log.retention.ms",
	"segment.bytes":                   "log.segment.bytes",
	"segment.index.bytes":             "log.index.size.max.bytes",
	"segment.ms":                      "log.roll.ms",
}

func brokerConfigName(topicConfig string) string {
	if n, ok := brokerConfigNames[topicConfig]; ok {
		return n
	}
	return topicConfig // compression.type, min.insync.replicas, ...
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
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		t := b.ctrl.Image().Topic(rr.ResourceName)
		if t == nil {
			return nil, fmt.Errorf("%w: topic %q", kerr.UnknownTopicOrPartition, rr.ResourceName)
		}
		return b.topicConfigs(t, req), nil
	case kmsg.ConfigResourceTypeBroker:
		switch rr.ResourceName {
		case "":
			return nil, nil
		case strconv.Itoa(int(b.cfg.NodeID)):
			return b.brokerConfigs(req), nil
		}
		return nil, fmt.Errorf("%w: broker %q: this is broker %d", kerr.InvalidRequest, rr.ResourceName, b.cfg.NodeID)
	}
	return nil, fmt.Errorf("%w: resource type %d is not served", kerr.InvalidRequest, rr.ResourceType)
}

// topicConfigs describes every config of topic t.
func (b *Broker) topicConfigs(t *quorum.Topic, req *kmsg.DescribeConfigsRequest) []kmsg.DescribeConfigsResponseResourceConfig {
	values := b.cfg.TopicDefaults.Describe(t.Configs)
	out := make([]kmsg.DescribeConfigsResponseResourceConfig, 0, len(values))
	for _, v := range values {
		c := describedConfig(v.Name, v.Value, v.Source, v.Type, v.Doc, req)
		c.ReadOnly = false
		if req.IncludeSynonyms {
			c.ConfigSynonyms = b.topicConfigSynonyms(t, v.Name)
		}
		out = append(out, c)
	}
	return out
}

// topicConfigSynonyms lists where a topic config's value may come from,
// most specific first.
func (b *Broker) topicConfigSynonyms(t *quorum.Topic, name string) []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	var syns []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
	add := func(name, value string, src quorum.ConfigSource) {
		s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		s.Name, s.Value, s.Source = name, &value, kmsg.ConfigSource(src)
		syns = append(syns, s)
	}
	if v, ok := t.Configs[name]; ok {
		add(name, v, quorum.SourceTopic)
	}
	if v, ok := b.cfg.TopicDefaults[name]; ok {
		add(brokerConfigName(name), v, quorum.SourceBrokerStatic)
	}
	def, _ := quorum.LookupTopicConfig(name)
	add(brokerConfigName(name), def.Default, quorum.SourceDefault)
	return syns
}

// brokerConfigs describes this broker's configs (Config.BrokerConfigs),
// all read-only (none is dynamic); the synonyms of one set in config.toml
// add its default.
func (b *Broker) brokerConfigs(req *kmsg.DescribeConfigsRequest) []kmsg.DescribeConfigsResponseResourceConfig {
	out := make([]kmsg.DescribeConfigsResponseResourceConfig, 0, len(b.cfg.BrokerConfigs))
	for _, bc := range b.cfg.BrokerConfigs {
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
	slices.SortFunc(out, func(x, y kmsg.DescribeConfigsResponseResourceConfig) int {
		return cmp.Compare(x.Name, y.Name)
	})
	return out
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

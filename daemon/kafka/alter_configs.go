package kafka

// What AlterConfigs and IncrementalAlterConfigs share: the checks Kafka
// makes before it looks at a resource's configs, and where each resource
// type's changes go. Topic overrides and the cluster-wide dynamic broker
// configs are committed through the controller; the rest of a broker's
// configs are static (config.toml, read at start), so this broker's own
// resource can only be altered by naming no config at all.

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

// configResource names one resource of an alter request.
type configResource struct {
	typ  kmsg.ConfigResourceType
	name string
}

// alterEach alters each resource named once in a request and reports every
// outcome in order; a resource named twice fails every copy.
func alterEach(keys []configResource, alter func(i int) error, report func(i int, err error)) {
	dup := repeated(keys)
	for i, k := range keys {
		err := errRepeatedResource
		if !dup[k] {
			err = alter(i)
		}
		report(i, err)
	}
}

// repeated reports the resources named more than once in one request:
// every copy is answered INVALID_REQUEST, as Kafka does, since which one
// was meant is unknown.
func repeated(resources []configResource) map[configResource]bool {
	count := make(map[configResource]int, len(resources))
	for _, r := range resources {
		count[r]++
	}
	dup := map[configResource]bool{}
	for r, n := range count {
		if n > 1 {
			dup[r] = true
		}
	}
	return dup
}

// errRepeatedResource answers every copy of a repeated resource.
var errRepeatedResource = fmt.Errorf("%w: each resource may appear once in a request", kerr.InvalidRequest)

// checkConfigNames rejects a resource naming a config twice or giving a
// null value where one is needed (nulls: those configs' names).
func checkConfigNames(names, nulls []string) error {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return fmt.Errorf("%w: config %s named twice", kerr.InvalidRequest, n)
		}
		seen[n] = true
	}
	if len(nulls) > 0 {
		return fmt.Errorf("%w: null value for %s", kerr.InvalidRequest, strings.Join(nulls, ", "))
	}
	return nil
}

// configView is a resource's configs as the current image has them: the
// values set on it (a topic's overrides, the cluster-wide dynamic broker
// configs) and each config's effective value.
type configView struct {
	set       map[string]string
	effective func(name string) (quorum.ConfigValue, error)
}

// alterResource checks and commits one resource's changes (or only checks
// them, with validateOnly): changes turns the resource's current configs
// into configs to set (non-nil) or remove (nil). A topic's are its
// overrides, committed through the controller; the BROKER resource with
// an empty name holds the cluster-wide dynamic broker configs, the
// defaults of topic configs (log.retention.ms, ...). The rest of a
// broker's configs are static (config.toml), and so are per-broker ones.
func (b *Broker) alterResource(res configResource, names []string, validateOnly bool,
	changes func(cur configView) (map[string]*string, error)) error {
	im := b.ctrl.Image()
	switch res.typ {
	case kmsg.ConfigResourceTypeTopic:
		t := im.Topic(res.name)
		if t == nil {
			return fmt.Errorf("%w: topic %q", kerr.UnknownTopicOrPartition, res.name)
		}
		defaults := b.topicDefaults(im)
		set, err := changes(configView{t.Configs, func(name string) (quorum.ConfigValue, error) {
			return defaults.Effective(t.Configs, name)
		}})
		if err != nil {
			return fmt.Errorf("topic %q: %w", res.name, err)
		}
		return b.ctrl.AlterTopicConfigs(res.name, set, validateOnly)
	case kmsg.ConfigResourceTypeBroker:
		if res.name == "" {
			return b.alterClusterConfigs(im, names, validateOnly, changes)
		}
		if res.name != strconv.Itoa(int(b.cfg.NodeID)) {
			return fmt.Errorf("%w: broker %q: this is broker %d", kerr.InvalidRequest, res.name, b.cfg.NodeID)
		}
		if len(names) > 0 {
			return fmt.Errorf("%w: cannot update these configs dynamically on one broker: %s (per-broker configs are static, from config.toml; the defaults of topic configs change cluster-wide on the broker resource with an empty name)",
				kerr.InvalidRequest, strings.Join(names, ", "))
		}
		return nil
	}
	return fmt.Errorf("%w: resource type %d is not served", kerr.InvalidRequest, res.typ)
}

// alterClusterConfigs alters the cluster-wide dynamic broker configs:
// only those that are the defaults of topic configs can change.
func (b *Broker) alterClusterConfigs(im *quorum.Image, names []string, validateOnly bool,
	changes func(cur configView) (map[string]*string, error)) error {
	var static []string
	for _, n := range names {
		if _, ok := quorum.LookupClusterConfig(n); !ok {
			static = append(static, n)
		}
	}
	if len(static) > 0 {
		return fmt.Errorf("%w: cannot update these configs dynamically: %s (the cluster-wide dynamic ones are the defaults of topic configs: log.retention.ms, log.segment.bytes, min.insync.replicas, ...)",
			kerr.InvalidRequest, strings.Join(static, ", "))
	}
	set, err := changes(configView{im.ClusterConfigs, func(name string) (quorum.ConfigValue, error) {
		return b.clusterConfig(im, name)
	}})
	if err != nil {
		return fmt.Errorf("cluster-wide broker configs: %w", err)
	}
	return b.ctrl.AlterClusterConfigs(set, validateOnly)
}

// topicDefaults are what a topic's configs fall back to in im.
func (b *Broker) topicDefaults(im *quorum.Image) quorum.Defaults {
	return quorum.Defaults{Cluster: im.ClusterConfigs, Static: b.cfg.TopicDefaults}
}

// clusterConfig is a cluster-wide dynamic broker config's value as this
// broker has it: the dynamic value, else its static or built-in default,
// under the broker config's name.
func (b *Broker) clusterConfig(im *quorum.Image, name string) (quorum.ConfigValue, error) {
	def, ok := quorum.LookupClusterConfig(name)
	if !ok {
		return quorum.ConfigValue{}, fmt.Errorf("%w: %s", quorum.ErrUnknownConfig, name)
	}
	v, err := b.topicDefaults(im).Effective(nil, def.Name)
	v.Name = name
	return v, err
}

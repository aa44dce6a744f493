package kafka

// What AlterConfigs and IncrementalAlterConfigs share: the checks Kafka
// makes before it looks at a resource's configs, and where each resource
// type's changes go. Topic overrides are committed through the controller;
// broker configs are all static (config.toml, read at start), so a broker
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

// alterResource checks and commits one resource's changes (or only checks
// them, with validateOnly). For a topic, changes turns the topic as the
// current image has it into overrides to set (non-nil) or remove (nil).
func (b *Broker) alterResource(res configResource, names []string, validateOnly bool,
	changes func(t *quorum.Topic) (map[string]*string, error)) error {
	switch res.typ {
	case kmsg.ConfigResourceTypeTopic:
		t := b.ctrl.Image().Topic(res.name)
		if t == nil {
			return fmt.Errorf("%w: topic %q", kerr.UnknownTopicOrPartition, res.name)
		}
		set, err := changes(t)
		if err != nil {
			return fmt.Errorf("topic %q: %w", res.name, err)
		}
		return b.ctrl.AlterTopicConfigs(res.name, set, validateOnly)
	case kmsg.ConfigResourceTypeBroker:
		if res.name != "" && res.name != strconv.Itoa(int(b.cfg.NodeID)) {
			return fmt.Errorf("%w: broker %q: this is broker %d", kerr.InvalidRequest, res.name, b.cfg.NodeID)
		}
		if len(names) > 0 {
			return fmt.Errorf("%w: cannot update these configs dynamically: %s (broker configs are static, from config.toml)",
				kerr.InvalidRequest, strings.Join(names, ", "))
		}
		return nil
	}
	return fmt.Errorf("%w: resource type %d is not served", kerr.InvalidRequest, res.typ)
}

package kafka

// IncrementalAlterConfigs v0-1: per TOPIC resource, and for the BROKER
// resource with an empty name (the cluster-wide dynamic broker configs:
// the defaults of topic configs, log.retention.ms and the like),
// operations on single configs: SET an override, DELETE it (deleting an
// absent or unknown one is no change, as in Kafka), APPEND values to or
// SUBTRACT them from a list config (cleanup.policy, log.cleanup.policy),
// starting from its effective value. A resource's changes commit together
// or not at all; validate-only commits nothing.
//
// Errors, per resource: UNKNOWN_TOPIC_OR_PARTITION for an unknown topic;
// INVALID_CONFIG for an unknown config or a bad value; INVALID_REQUEST for a
// resource named twice in the request (every copy), a config named twice,
// a null value outside DELETE, APPEND or SUBTRACT on a config that is not a
// list, an unknown operation, a broker config that cannot change
// cluster-wide, any change to one broker's resource (per-broker configs
// are static) and other resource types.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

func init() {
	register(&api{key: 44, minVersion: 0, maxVersion: 1, serve: serveIncrementalAlterConfigs})
}

func serveIncrementalAlterConfigs(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	keys := make([]configResource, len(req.Resources))
	for i, rr := range req.Resources {
		keys[i] = configResource{rr.ResourceType, rr.ResourceName}
	}
	alterEach(keys, func(i int) error {
		return b.incrementalAlter(keys[i], req.Resources[i].Configs, req.ValidateOnly)
	}, func(i int, err error) {
		res := kmsg.NewIncrementalAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = keys[i].typ, keys[i].name
		res.ErrorCode, res.ErrorMessage = b.errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, res)
	})
	return resp, nil
}

func (b *Broker) incrementalAlter(res configResource, configs []kmsg.IncrementalAlterConfigsRequestResourceConfig, validateOnly bool) error {
	names := make([]string, len(configs))
	var nulls []string
	for i, c := range configs {
		names[i] = c.Name
		if c.Value == nil && c.Op != kmsg.IncrementalAlterConfigOpDelete {
			nulls = append(nulls, c.Name)
		}
	}
	if err := checkConfigNames(names, nulls); err != nil {
		return err
	}
	return b.alterResource(res, names, validateOnly, func(cur configView) (map[string]*string, error) {
		set := make(map[string]*string, len(configs))
		for _, c := range configs {
			switch c.Op {
			case kmsg.IncrementalAlterConfigOpSet:
				set[c.Name] = c.Value
			case kmsg.IncrementalAlterConfigOpDelete:
				set[c.Name] = nil
			case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
				v, err := alterList(cur, c)
				if err != nil {
					return nil, err
				}
				set[c.Name] = &v
			default:
				return nil, fmt.Errorf("%w: config %s: unknown operation %d", kerr.InvalidRequest, c.Name, c.Op)
			}
		}
		return set, nil
	})
}

// alterList applies APPEND or SUBTRACT to a list config's effective value:
// appended values already listed and subtracted values not listed are no
// change.
func alterList(cur configView, c kmsg.IncrementalAlterConfigsRequestResourceConfig) (string, error) {
	v, err := cur.effective(c.Name)
	if err != nil {
		return "", err
	}
	if v.Type != quorum.ConfigList {
		return "", fmt.Errorf("%w: config %s is not a list: %s applies to lists only", kerr.InvalidRequest, c.Name, c.Op)
	}
	items := listItems(v.Value)
	for _, it := range listItems(*c.Value) {
		if c.Op == kmsg.IncrementalAlterConfigOpSubtract {
			items = slices.DeleteFunc(items, func(s string) bool { return s == it })
		} else if !slices.Contains(items, it) {
			items = append(items, it)
		}
	}
	return strings.Join(items, ","), nil
}

// listItems splits a list config's value, ignoring spaces and empty items.
func listItems(v string) []string {
	var items []string
	for it := range strings.SplitSeq(v, ",") {
		if it = strings.TrimSpace(it); it != "" {
			items = append(items, it)
		}
	}
	return items
}

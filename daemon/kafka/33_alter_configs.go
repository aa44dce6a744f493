package kafka

// AlterConfigs v0-2, the legacy form: a TOPIC resource's configs replace
// all of the topic's overrides, so an override the request does not list is
// removed. The changes commit together or not at all; validate-only commits
// nothing. The BROKER resource with an empty name likewise replaces the
// cluster-wide dynamic broker configs; this broker's own must list no
// configs (per-broker configs are static).
//
// Errors, per resource, as IncrementalAlterConfigs answers them, with every
// null value INVALID_REQUEST (there is no DELETE here for a null to mean).

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(&api{key: 33, minVersion: 0, maxVersion: 2, serve: serveAlterConfigs})
}

func serveAlterConfigs(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	keys := make([]configResource, len(req.Resources))
	for i, rr := range req.Resources {
		keys[i] = configResource{rr.ResourceType, rr.ResourceName}
	}
	alterEach(keys, func(i int) error {
		return b.replaceConfigs(keys[i], req.Resources[i].Configs, req.ValidateOnly)
	}, func(i int, err error) {
		res := kmsg.NewAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = keys[i].typ, keys[i].name
		res.ErrorCode, res.ErrorMessage = b.errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, res)
	})
	return resp, nil
}

func (b *Broker) replaceConfigs(res configResource, configs []kmsg.AlterConfigsRequestResourceConfig, validateOnly bool) error {
	names := make([]string, len(configs))
	var nulls []string
	for i, c := range configs {
		names[i] = c.Name
		if c.Value == nil {
			nulls = append(nulls, c.Name)
		}
	}
	if err := checkConfigNames(names, nulls); err != nil {
		return err
	}
	return b.alterResource(res, names, validateOnly, func(cur configView) (map[string]*string, error) {
		set := make(map[string]*string, len(configs)+len(cur.set))
		for k := range cur.set {
			set[k] = nil
		}
		for _, c := range configs {
			set[c.Name] = c.Value
		}
		return set, nil
	})
}

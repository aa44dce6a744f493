package kafka

// ApiVersions v0-4: the API keys and version ranges this broker serves.

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/kafkawire"
)

func init() {
	register(&api{key: kafkawire.APIVersionsKey, minVersion: 0, maxVersion: 4, serve: serveAPIVersions})
}

func serveAPIVersions(_ *Broker, r *request) (kmsg.Response, error) {
	resp := r.body.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = supportedAPIKeys()
	return resp, nil
}

// unsupportedAPIVersions answers an ApiVersions request of a version we do
// not serve: v0, UNSUPPORTED_VERSION, with our ranges so the client can
// retry with one we do.
func unsupportedAPIVersions() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = supportedAPIKeys()
	return resp
}

func supportedAPIKeys() []kmsg.ApiVersionsResponseApiKey {
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, len(apis))
	for _, a := range apis {
		keys = append(keys, kmsg.ApiVersionsResponseApiKey{ApiKey: a.key, MinVersion: a.minVersion, MaxVersion: a.maxVersion})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ApiKey < keys[j].ApiKey })
	return keys
}

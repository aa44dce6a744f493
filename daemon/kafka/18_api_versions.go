package kafka

// ApiVersions v0-4: the API keys and version ranges this broker serves,
// and from v3 the features: transaction.version 2 (KIP-890 part 2:
// Produce v12, EndTxn v5, AddPartitionsToTxn v5, TxnOffsetCommit v5),
// supported and finalized, since every Riffle broker serves it. Clients
// such as franz-go run their transactions in version 2 only when it is
// finalized.

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
	resp.SupportedFeatures = []kmsg.ApiVersionsResponseSupportedFeature{{Name: transactionVersionFeature, MinVersion: 0, MaxVersion: transactionVersion}}
	resp.FinalizedFeaturesEpoch = 0 // the features never change
	resp.FinalizedFeatures = []kmsg.ApiVersionsResponseFinalizedFeature{{Name: transactionVersionFeature, MinVersionLevel: transactionVersion, MaxVersionLevel: transactionVersion}}
	return resp, nil
}

// The transaction version this broker runs (KIP-890 part 2).
const (
	transactionVersionFeature = "transaction.version"
	transactionVersion        = 2
)

// unsupportedAPIVersions answers an ApiVersions request of a version we do
// not serve as Kafka does (KIP-511): v0, UNSUPPORTED_VERSION, listing only
// ApiVersions' own range, so that the client retries with a version we
// serve and learns the features too (franz-go takes a full v0 list as
// final and would never see transaction.version).
func unsupportedAPIVersions() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	a := apis[kafkawire.APIVersionsKey]
	resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: a.key, MinVersion: a.minVersion, MaxVersion: a.maxVersion}}
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

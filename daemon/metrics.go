package daemon

import (
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon/kafka"
	"github.com/riffle/riffle/replica"
)

// brokerMetrics holds the metrics updated as things happen: it is the
// Kafka layer's Observer and the storage's flush hook. Values that are
// state (offsets, sizes, connections, lag) are read at scrape time by
// broker.writeMetrics instead.
//
// The request path touches only pre-created metrics (per API key, indexed
// by key) and a per-partition entry found by pointer; names are built on
// first use only.
type brokerMetrics struct {
	set     *metrics.Set
	apis    []*apiMetrics // by API key; nil for keys not served
	errors  sync.Map      // errorKey → *metrics.Counter
	traffic sync.Map      // *replica.Partition → *partitionTraffic
	fsync   *metrics.PrometheusHistogram
	flushes *metrics.Counter
	// versionProbes counts ApiVersions requests newer than served: the
	// client retries with a version we serve, so this is negotiation, not
	// an error (franz-go and Kafka's own clients start at their newest).
	versionProbes *metrics.Counter
	// throttled and throttleSeconds count the requests a client quota
	// throttled and the throttle time given, by quota type.
	throttled       []*metrics.Counter
	throttleSeconds []*metrics.FloatCounter
}

// secondsBuckets are the upper bounds (le) of every duration histogram:
// Prometheus-style cumulative buckets, so that histogram_quantile works in
// Prometheus and in VictoriaMetrics alike. They run from 100µs (a produce
// to the page cache on an idle broker) to a minute (a Fetch long poll or an
// fsync on a struggling disk) in 1-2.5-5 steps.
var secondsBuckets = []float64{
	0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05,
	0.1, 0.25, 0.5,
	1, 2.5, 5,
	10, 30, 60,
}

type apiMetrics struct {
	name                   string
	requests               *metrics.Counter
	queued, handled, total *metrics.PrometheusHistogram
}

// partitionTraffic counts one partition's produced and fetched bytes.
type partitionTraffic struct {
	bytesIn, recordsIn, bytesOut atomic.Uint64
}

// errorKey is an API key and an error code.
type errorKey struct{ api, code int16 }

func newBrokerMetrics() *brokerMetrics {
	m := &brokerMetrics{set: metrics.NewSet()}
	keys := kafka.APIKeys()
	m.apis = make([]*apiMetrics, keys[len(keys)-1]+1)
	for _, k := range keys {
		name := kmsg.NameForKey(k)
		l := `{api="` + name + `"}`
		m.apis[k] = &apiMetrics{
			name:     name,
			requests: m.set.NewCounter("riffle_kafka_requests_total" + l),
			queued:   m.set.NewPrometheusHistogramExt("riffle_kafka_request_queued_seconds"+l, secondsBuckets),
			handled:  m.set.NewPrometheusHistogramExt("riffle_kafka_request_handled_seconds"+l, secondsBuckets),
			total:    m.set.NewPrometheusHistogramExt("riffle_kafka_request_seconds"+l, secondsBuckets),
		}
	}
	m.fsync = m.set.NewPrometheusHistogramExt("riffle_storage_fsync_seconds", secondsBuckets)
	m.flushes = m.set.NewCounter("riffle_storage_flushes_total")
	m.versionProbes = m.set.NewCounter("riffle_kafka_api_versions_fallbacks_total")
	for t := range kafka.QuotaTypes() {
		l := `{type="` + t.String() + `"}`
		m.throttled = append(m.throttled, m.set.NewCounter("riffle_quota_throttled_total"+l))
		m.throttleSeconds = append(m.throttleSeconds, m.set.NewFloatCounter("riffle_quota_throttle_seconds_total"+l))
	}
	return m
}

// Throttled implements kafka.Observer.
func (m *brokerMetrics) Throttled(typ kafka.QuotaType, d time.Duration) {
	m.throttled[typ].Inc()
	m.throttleSeconds[typ].Add(d.Seconds())
}

// Request implements kafka.Observer.
func (m *brokerMetrics) Request(apiKey int16, queued, handled time.Duration) {
	a := m.apis[apiKey]
	a.requests.Inc()
	a.queued.Update(queued.Seconds())
	a.handled.Update(handled.Seconds())
	a.total.Update((queued + handled).Seconds())
}

// ErrorCode implements kafka.Observer.
func (m *brokerMetrics) ErrorCode(apiKey, code int16) {
	if apiKey == kmsg.ApiVersions.Int16() && code == kerr.UnsupportedVersion.Code {
		m.versionProbes.Inc()
		return
	}
	k := errorKey{apiKey, code}
	c, ok := m.errors.Load(k)
	if !ok {
		name := `riffle_kafka_request_errors_total{api="` + m.apis[apiKey].name + `",error="` + errorName(code) + `"}`
		c, _ = m.errors.LoadOrStore(k, m.set.GetOrCreateCounter(name))
	}
	c.(*metrics.Counter).Inc()
}

// errorName is Kafka's name for an error code, or the number when unknown.
func errorName(code int16) string {
	if e := kerr.TypedErrorForCode(code); e != nil && e.Code == code {
		return e.Message
	}
	return strconv.Itoa(int(code))
}

// Produced implements kafka.Observer.
func (m *brokerMetrics) Produced(p *replica.Partition, batchBytes, records int64) {
	t := m.partitionTraffic(p)
	t.bytesIn.Add(uint64(batchBytes))
	t.recordsIn.Add(uint64(records))
}

// Fetched implements kafka.Observer.
func (m *brokerMetrics) Fetched(p *replica.Partition, recordBytes int64) {
	m.partitionTraffic(p).bytesOut.Add(uint64(recordBytes))
}

func (m *brokerMetrics) partitionTraffic(p *replica.Partition) *partitionTraffic {
	if t, ok := m.traffic.Load(p); ok {
		return t.(*partitionTraffic)
	}
	t, _ := m.traffic.LoadOrStore(p, &partitionTraffic{})
	return t.(*partitionTraffic)
}

// onSync is segment.Options.OnSync.
func (m *brokerMetrics) onSync(d time.Duration) {
	m.flushes.Inc()
	m.fsync.Update(d.Seconds())
}

// writePartitionTraffic writes a hosted partition's traffic counters
// (zeros before any traffic), labels being its {topic,partition}.
func (m *brokerMetrics) writePartitionTraffic(w io.Writer, p *replica.Partition, labels string) {
	t := m.partitionTraffic(p)
	metrics.WriteCounterUint64(w, "riffle_partition_bytes_in_total"+labels, t.bytesIn.Load())
	metrics.WriteCounterUint64(w, "riffle_partition_records_in_total"+labels, t.recordsIn.Load())
	metrics.WriteCounterUint64(w, "riffle_partition_bytes_out_total"+labels, t.bytesOut.Load())
}

// forgetPartitionsExcept drops the traffic of partitions no longer hosted
// (deleted topics), so that they neither leak nor come back.
func (m *brokerMetrics) forgetPartitionsExcept(hosted map[*replica.Partition]bool) {
	m.traffic.Range(func(p, _ any) bool {
		if !hosted[p.(*replica.Partition)] {
			m.traffic.Delete(p)
		}
		return true
	})
}

// labelValue escapes a Prometheus label value (group ids are arbitrary
// strings).
var labelValue = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace

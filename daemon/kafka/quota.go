package kafka

// Client quota enforcement, as Kafka's: each broker measures every client's
// usage on its own over Config.QuotaWindowNum samples of
// Config.QuotaWindowSize and throttles a client over its quota (the
// quotas and their precedence are the metadata image's, quorum/quota.go):
//
//	producer_byte_rate  Produce request bytes
//	consumer_byte_rate  consumer Fetch response bytes
//	request_percentage  handler time, as a percentage of one thread, of every
//	                    request but ApiVersions, the SASL ones and
//	                    followers' Fetch; time parked in a purgatory
//	                    (long-poll Fetch, acks=all) does not count
//
// Usage is recorded after the request is served; when it puts the
// client's rate above its quota, the throttle time is how long the client
// must stay idle for the rate to come back to the quota. The response
// carries it in throttle_time_ms and the connection is muted that long
// (netio.Conn.Mute): a client of a version that throttles itself (KIP-219)
// gets its response at once, an older one after the throttle time.
// Unlike Kafka, a throttled Fetch still carries the records it read: the
// mute keeps the next one back.

import (
	"iter"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

// QuotaType is one of the quotas a request is measured against.
type QuotaType int

const (
	QuotaProduce QuotaType = iota
	QuotaFetch
	QuotaRequest
	quotaTypes
)

// QuotaTypes yields every quota type, in order.
func QuotaTypes() iter.Seq[QuotaType] {
	return func(yield func(QuotaType) bool) {
		for t := range quotaTypes {
			if !yield(t) {
				return
			}
		}
	}
}

// String is the type's name in metrics (Kafka's quota sensor types).
func (t QuotaType) String() string {
	return [...]string{"produce", "fetch", "request"}[t]
}

var quotaKeys = [quotaTypes]string{quorum.QuotaProducerByteRate, quorum.QuotaConsumerByteRate, quorum.QuotaRequestPercentage}

// quotaBucket is what one rate is measured for: a quota type and the
// client names the matching quota entity groups by.
type quotaBucket struct {
	typ    QuotaType
	entity quorum.QuotaEntity
}

// quotaRates measures the clients' usage. Safe for concurrent use.
type quotaRates struct {
	num    int           // samples
	window time.Duration // per sample

	mu        sync.Mutex
	rates     map[quotaBucket]*sampledRate
	lastPurge time.Time
}

func newQuotaRates(num int, window time.Duration) *quotaRates {
	if num <= 0 {
		num = 11
	}
	if window <= 0 {
		window = time.Second
	}
	return &quotaRates{num: num, window: window, rates: map[quotaBucket]*sampledRate{}}
}

// sampledRate is a sum over consecutive time samples, the oldest dropped
// once all are older than the whole span.
type sampledRate struct {
	samples []rateSample // oldest first, at most num
}

type rateSample struct {
	start time.Time
	value float64
}

// record adds value to the bucket's rate at now and returns the throttle
// time for quota (0 when the rate stays within it).
func (q *quotaRates) record(b quotaBucket, value, quota float64, now time.Time) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.purge(now)
	r := q.rates[b]
	if r == nil {
		r = &sampledRate{}
		q.rates[b] = r
	}
	r.drop(now, q.span())
	if n := len(r.samples); n == 0 || now.Sub(r.samples[n-1].start) >= q.window {
		if n == q.num {
			r.samples = append(r.samples[:0], r.samples[1:]...)
		}
		r.samples = append(r.samples, rateSample{start: now})
	}
	r.samples[len(r.samples)-1].value += value
	return q.throttle(r, quota, now)
}

func (q *quotaRates) span() time.Duration { return time.Duration(q.num) * q.window }

// drop removes the samples that ended before the span up to now.
func (r *sampledRate) drop(now time.Time, span time.Duration) {
	i := 0
	for i < len(r.samples) && now.Sub(r.samples[i].start) >= span {
		i++
	}
	r.samples = r.samples[i:]
}

// throttle is how long the client must stay idle for r to come back to
// quota: the rate is the sum over the samples divided by the time since
// the oldest began, but never less than num-1 whole windows (so a first
// burst is measured against the whole span, as Kafka does). It is at most
// the span.
func (q *quotaRates) throttle(r *sampledRate, quota float64, now time.Time) time.Duration {
	var total float64
	for _, s := range r.samples {
		total += s.value
	}
	elapsed := now.Sub(r.samples[0].start)
	elapsed = max(elapsed, time.Duration(q.num-1)*q.window, time.Millisecond)
	rate := total / elapsed.Seconds()
	switch {
	case rate <= quota:
		return 0
	case quota <= 0:
		return q.span()
	}
	return time.Duration(min((rate-quota)/quota*float64(elapsed), float64(q.span())))
}

// purge forgets the buckets idle for a whole span, at most once a span.
func (q *quotaRates) purge(now time.Time) {
	span := q.span()
	if now.Sub(q.lastPurge) < span {
		return
	}
	q.lastPurge = now
	for b, r := range q.rates {
		if r.drop(now, span); len(r.samples) == 0 {
			delete(q.rates, b)
		}
	}
}

// quotaExempt tells the requests that no request_percentage quota
// measures or throttles (Kafka's exempt ones that Riffle serves).
func quotaExempt(apiKey int16) bool {
	switch kmsg.Key(apiKey) {
	case kmsg.ApiVersions, kmsg.SASLHandshake, kmsg.SASLAuthenticate, kmsg.WriteTxnMarkers:
		return true
	}
	return false
}

// quotaUser is the principal's name as quota entities name users.
func quotaUser(principal string) string {
	return strings.TrimPrefix(principal, "User:")
}

// recordQuota records value for the request's client against its quota
// of typ, if it has one, and returns the throttle time.
func (b *Broker) recordQuota(r *request, typ QuotaType, value float64) time.Duration {
	sec := b.ctrl.Image().Security
	if !sec.HasClientQuotas() {
		return 0
	}
	quota, entity, ok := sec.QuotaFor(quotaUser(b.sessionOf(r.conn).principal), r.header.ClientID, quotaKeys[typ])
	if !ok {
		return 0
	}
	d := b.quotas.record(quotaBucket{typ: typ, entity: entity}, value, quota, b.cfg.Now())
	if d > 0 && b.cfg.Observer != nil {
		b.cfg.Observer.Throttled(typ, d)
	}
	return d
}

// quotaFetchBytesMax is the most response bytes a consumer's Fetch may
// carry under its consumer_byte_rate: a whole span's worth (as Kafka
// bounds fetch.max.bytes); 0 when unlimited.
func (b *Broker) quotaFetchBytesMax(r *request) int64 {
	sec := b.ctrl.Image().Security
	if !sec.HasClientQuotas() {
		return 0
	}
	quota, _, ok := sec.QuotaFor(quotaUser(b.sessionOf(r.conn).principal), r.header.ClientID, quorum.QuotaConsumerByteRate)
	if !ok {
		return 0
	}
	return int64(min(quota*b.quotas.span().Seconds(), math.MaxInt32))
}

// throttleRequest records the request's usage (its bytes for produce and
// fetch, handler time for the request percentage) and, when the client
// is over a quota, mutes the connection and returns the throttle time
// for the response. handled is the handler time, parked excluded.
func (b *Broker) throttleRequest(r *request, requestBytes, fetchBytes int64, handled time.Duration) time.Duration {
	var d time.Duration
	switch r.body.(type) {
	case *kmsg.ProduceRequest:
		d = b.recordQuota(r, QuotaProduce, float64(requestBytes))
	case *kmsg.FetchRequest:
		if id, _ := fetchReplica(r.body.(*kmsg.FetchRequest)); id >= 0 {
			return 0 // replication
		}
		d = b.recordQuota(r, QuotaFetch, float64(fetchBytes))
	}
	if !quotaExempt(r.header.APIKey) {
		// Percent of one thread: seconds × 100 per second.
		d = max(d, b.recordQuota(r, QuotaRequest, (handled-r.parked).Seconds()*100))
	}
	return d
}

// muteFor sets resp's throttle_time_ms to d and mutes the connection for
// d: a client that throttles itself after the response (KIP-219) gets it
// at once; an older one after d. resp's version must be set.
func muteFor(r *request, resp kmsg.Response, d time.Duration) {
	if d <= 0 {
		return
	}
	afterResponse := false
	if tr, ok := resp.(kmsg.ThrottleResponse); ok {
		_, afterResponse = tr.Throttle()
	}
	if st, ok := resp.(kmsg.SetThrottleResponse); ok {
		st.SetThrottle(throttleMillis(d))
	}
	r.conn.Mute(d, !afterResponse)
}

// throttleMillis is d as a response's throttle_time_ms.
func throttleMillis(d time.Duration) int32 {
	return int32(min(d.Milliseconds(), math.MaxInt32))
}

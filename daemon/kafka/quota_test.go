package kafka

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

// TestQuotaRatesHoldClientToQuota: a client that sends as fast as it may,
// waiting out each throttle time as told, averages the quota over a long
// run; a client under its quota is never throttled.
func TestQuotaRatesHoldClientToQuota(t *testing.T) {
	const quota = 100 << 10 // bytes/s
	for _, c := range []struct {
		num    int
		window time.Duration
	}{{11, time.Second}, {3, time.Second}, {2, 500 * time.Millisecond}} {
		q := newQuotaRates(c.num, c.window)
		bucket := quotaBucket{typ: QuotaProduce, entity: quorum.QuotaEntity{User: quorum.QuotaNamed("u")}}
		start := time.Unix(1000, 0)
		now, sent, throttled := start, 0.0, 0
		const request = 16 << 10
		for now.Sub(start) < 120*time.Second {
			d := q.record(bucket, request, quota, now)
			sent += request
			if d > 0 {
				throttled++
			}
			now = now.Add(time.Millisecond + d) // 16 MiB/s unthrottled
		}
		// The first span's allowance comes on top.
		rate := (sent - quota*q.span().Seconds()) / now.Sub(start).Seconds()
		if rate < 0.8*quota || rate > 1.2*quota || throttled == 0 {
			t.Errorf("%d × %v: %.0f B/s over the run (quota %d), %d throttled", c.num, c.window, rate, quota, throttled)
		}

		if d := q.record(quotaBucket{typ: QuotaRequest}, 1, 0, start); d != q.span() {
			t.Errorf("%d × %v: a quota of 0 throttles %v, want the span", c.num, c.window, d)
		}
		under := quotaBucket{typ: QuotaProduce, entity: quorum.QuotaEntity{User: quorum.QuotaNamed("slow")}}
		for i := range 100 {
			if d := q.record(under, quota/4, quota, start.Add(time.Duration(i)*250*time.Millisecond*2)); d != 0 {
				t.Fatalf("%d × %v: a client at half its quota throttled %v at step %d", c.num, c.window, d, i)
			}
		}
	}
}

// TestQuotasThrottleResponses: a client over its producer_byte_rate,
// consumer_byte_rate or request_percentage gets throttle_time_ms in its
// Produce, Fetch (hand-encoded) and Metadata responses; ApiVersions is
// exempt, and a client id without quotas is never throttled.
func TestQuotasThrottleResponses(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	s.createTopic("t", 1, nil)
	client := quorum.QuotaEntity{ClientID: quorum.QuotaNamed("kafkatest")} // kafkatest.Frame's client id
	if err := s.b.ctrl.AlterClientQuotas([]quorum.QuotaChange{
		{Entity: client, Key: quorum.QuotaProducerByteRate, Value: 1},
		{Entity: client, Key: quorum.QuotaConsumerByteRate, Value: 1},
		{Entity: client, Key: quorum.QuotaRequestPercentage, Value: 0.0001},
	}); err != nil {
		t.Fatal(err)
	}
	if sp := s.produceOne(8, -1, "t", plainBatch(3)); sp.ErrorCode != 0 {
		t.Fatalf("produce: %+v", sp)
	}
	produce := roundTrip[*kmsg.ProduceResponse](t, s.b, produceReq(8, -1, "t", map[int32][]byte{0: plainBatch(3)}))
	if produce.ThrottleMillis <= 0 {
		t.Errorf("produce over 1 B/s: throttle %d ms", produce.ThrottleMillis)
	}
	fetch := roundTrip[*kmsg.FetchResponse](t, s.b, s.fetchReqAt(12, map[int32]int64{0: 0}))
	if fetch.ThrottleMillis <= 0 || len(fetch.Topics) != 1 {
		t.Errorf("fetch over 1 B/s: throttle %d ms, %d topics", fetch.ThrottleMillis, len(fetch.Topics))
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	if resp := roundTrip[*kmsg.MetadataResponse](t, s.b, md); resp.ThrottleMillis <= 0 {
		t.Errorf("metadata over 0.0001%% of a thread: throttle %d ms", resp.ThrottleMillis)
	}
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 2
	if resp := roundTrip[*kmsg.ApiVersionsResponse](t, s.b, av); resp.ThrottleMillis != 0 {
		t.Errorf("ApiVersions throttled %d ms", resp.ThrottleMillis)
	}
	if err := s.b.ctrl.AlterClientQuotas([]quorum.QuotaChange{
		{Entity: client, Key: quorum.QuotaProducerByteRate, Remove: true},
		{Entity: client, Key: quorum.QuotaConsumerByteRate, Remove: true},
		{Entity: client, Key: quorum.QuotaRequestPercentage, Remove: true},
	}); err != nil {
		t.Fatal(err)
	}
	if resp := roundTrip[*kmsg.MetadataResponse](t, s.b, md); resp.ThrottleMillis != 0 {
		t.Errorf("metadata without quotas: throttle %d ms", resp.ThrottleMillis)
	}
}

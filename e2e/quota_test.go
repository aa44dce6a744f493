package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/riffle/riffle/internal/brokertest"
)

// quotaRate is the byte rate quotas in these tests: 100 KiB/s; a
// throttled client may go quotaSlack times as fast over a run of a few
// seconds (the first span's allowance, a loaded machine's timing).
const (
	quotaRate  = 100 << 10
	quotaSlack = 1.8
)

// quotaWindowArgs measure quotas over 3 samples of 1 s, so the first
// burst a quota allows (the span's worth) is small against a run of a few
// seconds.
var quotaWindowArgs = []string{"--set", "security.quota_window_num=3", "--set", "security.quota_window_size_seconds=1"}

// throttleHook counts the responses that told the client to throttle.
type throttleHook struct{ throttles atomic.Int64 }

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	if d > 0 {
		h.throttles.Add(1)
	}
}

func clientQuota(typ, name string, key string, value float64) kadm.AlterClientQuotaEntry {
	return kadm.AlterClientQuotaEntry{
		Entity: kadm.ClientQuotaEntity{{Type: typ, Name: &name}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: key, Value: value}},
	}
}

// produceFor produces uncompressed 10 KiB records as clientID (with opts)
// for d (or until limit bytes are acknowledged) and returns the bytes acknowledged per second
// and the throttled responses.
func produceFor(t *testing.T, addrs []string, clientID, topic string, d time.Duration, limit int64, opts ...kgo.Opt) (float64, int64) {
	t.Helper()
	hook := &throttleHook{}
	cl := newClient(t, addrs[0], append(opts, kgo.SeedBrokers(addrs...), kgo.ClientID(clientID), kgo.WithHooks(hook), kgo.MaxBufferedRecords(8),
		kgo.ProducerBatchCompression(kgo.NoCompression()))...) // quotas count wire bytes
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	value := make([]byte, 10<<10)
	var acked atomic.Int64
	start := time.Now()
	for ctx.Err() == nil && acked.Load() < limit {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, func(r *kgo.Record, err error) {
			if err == nil && ctx.Err() == nil {
				acked.Add(int64(len(r.Value)))
			}
		})
	}
	elapsed := time.Since(start)
	if ctx.Err() == nil { // the limit: wait for what is in flight
		if err := cl.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		elapsed = time.Since(start)
	}
	return float64(acked.Load()) / elapsed.Seconds(), hook.throttles.Load()
}

// consumeFor consumes topic from the start as clientID for d (or until
// limit bytes) and returns the value bytes per second and the throttled
// responses.
func consumeFor(t *testing.T, addr, clientID, topic string, d time.Duration, limit int64) (float64, int64) {
	t.Helper()
	hook := &throttleHook{}
	cl := newClient(t, addr, kgo.ClientID(clientID), kgo.WithHooks(hook), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<10), kgo.FetchMaxPartitionBytes(64<<10))
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var got int64
	start := time.Now()
	for ctx.Err() == nil && got < limit {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { got += int64(len(r.Value)) })
	}
	return float64(got) / time.Since(start).Seconds(), hook.throttles.Load()
}

// TestClientQuotasThrottle: a client id limited to 100 KiB/s for produce
// and fetch is held near it (the first span's allowance aside) and its
// responses carry throttle_time_ms, while another client id is not slowed;
// the throttling shows in the metrics. kadm's AlterClientQuotas and
// DescribeClientQuotas round trip.
func TestClientQuotasThrottle(t *testing.T) {
	b := brokertest.Start(t, quotaWindowArgs...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := kadm.NewClient(newClient(t, b.Addr()))
	if _, err := admin.CreateTopic(ctx, 1, 1, nil, "quotas"); err != nil {
		t.Fatal(err)
	}
	altered, err := admin.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		clientQuota("client-id", "slow", "producer_byte_rate", quotaRate),
		clientQuota("client-id", "slow", "consumer_byte_rate", quotaRate),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range altered {
		if a.Err != nil {
			t.Fatalf("alter %v: %v", a.Entity, a.Err)
		}
	}
	slow := "slow"
	described, err := admin.DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{
		{Type: "client-id", MatchName: &slow, MatchType: kmsg.QuotasMatchTypeExact}})
	if err != nil || len(described) != 1 || len(described[0].Values) != 2 {
		t.Fatalf("describe: %+v, %v", described, err)
	}
	for _, v := range described[0].Values {
		if v.Value != quotaRate {
			t.Fatalf("describe: %+v", described)
		}
	}

	const run = 6 * time.Second
	// Small requests (8 records buffered, 64 KiB fetches) keep the
	// throttling fine-grained: about 1.2× the quota over the run.
	rate, throttles := produceFor(t, []string{b.Addr()}, "slow", "quotas", run, 1<<40)
	t.Logf("throttled producer: %.0f KiB/s over %v, %d throttled responses", rate/1024, run, throttles)
	if rate > quotaSlack*quotaRate || rate < 0.3*quotaRate || throttles == 0 {
		t.Errorf("throttled producer: %.0f B/s with %d throttled responses, want about %d B/s and some", rate, throttles, quotaRate)
	}
	const fastBytes = 4 << 20
	rate, throttles = produceFor(t, []string{b.Addr()}, "fast", "quotas", time.Minute, fastBytes)
	t.Logf("other producer: %.0f KiB/s, %d throttled responses", rate/1024, throttles)
	if rate < 5*quotaRate || throttles != 0 {
		t.Errorf("unthrottled producer: %.0f B/s with %d throttled responses, want well above %d B/s and none", rate, throttles, quotaRate)
	}

	rate, throttles = consumeFor(t, b.Addr(), "slow", "quotas", run, 1<<40)
	t.Logf("throttled consumer: %.0f KiB/s over %v, %d throttled responses", rate/1024, run, throttles)
	if rate > quotaSlack*quotaRate || rate < 0.3*quotaRate || throttles == 0 {
		t.Errorf("throttled consumer: %.0f B/s with %d throttled responses, want about %d B/s and some", rate, throttles, quotaRate)
	}
	rate, throttles = consumeFor(t, b.Addr(), "fast", "quotas", time.Minute, fastBytes)
	t.Logf("other consumer: %.0f KiB/s, %d throttled responses", rate/1024, throttles)
	if rate < 5*quotaRate || throttles != 0 {
		t.Errorf("unthrottled consumer: %.0f B/s with %d throttled responses, want well above %d B/s and none", rate, throttles, quotaRate)
	}

	m := scrape(t, b.AdminAddr())
	for _, typ := range []string{"produce", "fetch"} {
		if m[`riffle_quota_throttled_total{type="`+typ+`"}`] == 0 || m[`riffle_quota_throttle_seconds_total{type="`+typ+`"}`] == 0 {
			t.Errorf("no %s throttling in the metrics", typ)
		}
	}
}

// TestClientQuotaClusterWide: a user quota set through one node of a
// 3-node cluster is enforced by another, the leader of the partition
// produced to.
func TestClientQuotaClusterWide(t *testing.T) {
	c := brokertest.StartCluster(t, 3, quotaWindowArgs...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := newClient(t, c.Addrs()[0], kgo.SeedBrokers(c.Addrs()...))
	admin := kadm.NewClient(cl)
	if _, err := admin.CreateTopic(ctx, 1, 1, nil, "cluster-quotas"); err != nil {
		t.Fatal(err)
	}
	leader := partitionLeader(t, c.Addrs()[0], "cluster-quotas", -1)
	other := leader%3 + 1
	// A PLAINTEXT client is User:ANONYMOUS.
	req := kmsg.NewPtrAlterClientQuotasRequest()
	en := kmsg.NewAlterClientQuotasRequestEntry()
	user := kmsg.NewAlterClientQuotasRequestEntryEntity()
	user.Type, user.Name = "user", kmsg.StringPtr("ANONYMOUS")
	op := kmsg.NewAlterClientQuotasRequestEntryOp()
	op.Key, op.Value = "producer_byte_rate", quotaRate
	en.Entity, en.Ops = append(en.Entity, user), append(en.Ops, op)
	req.Entries = append(req.Entries, en)
	resp, err := req.RequestWith(ctx, cl.Broker(int(other)))
	if err != nil || len(resp.Entries) != 1 || resp.Entries[0].ErrorCode != 0 {
		if err == nil && len(resp.Entries) == 1 && resp.Entries[0].ErrorMessage != nil {
			t.Logf("message: %s", *resp.Entries[0].ErrorMessage)
		}
		t.Fatalf("alter through node %d: %+v, %v", other, resp, err)
	}
	waitFor(t, 30*time.Second, "the leader describing the quota set through another node", func() bool {
		dresp, err := kmsg.NewPtrDescribeClientQuotasRequest().RequestWith(ctx, cl.Broker(int(leader)))
		return err == nil && len(dresp.Entries) == 1
	})
	rate, throttles := produceFor(t, c.Addrs(), "any", "cluster-quotas", 6*time.Second, 1<<40)
	t.Logf("producer on node %d, quota set through node %d: %.0f KiB/s, %d throttled responses", leader, other, rate/1024, throttles)
	if rate > quotaSlack*quotaRate || throttles == 0 {
		t.Errorf("producer: %.0f B/s with %d throttled responses, want about %d B/s and some", rate, throttles, quotaRate)
	}
}

// TestQuotaCLI: `riffle quota alter` sets and removes quotas of users,
// client ids and defaults, `riffle quota describe` lists them (all, or an
// entity's), and the broker's refusals reach stderr.
func TestQuotaCLI(t *testing.T) {
	b := brokertest.Start(t)
	addr := b.Addr()
	ok(t, addr, "", "quota", "alter", "--user", "alice", "--set", "producer_byte_rate=1048576", "--set", "request_percentage=25.5")
	ok(t, addr, "", "quota", "alter", "--user", "alice", "--client-id", "app", "--set", "consumer_byte_rate=2048")
	ok(t, addr, "", "quota", "alter", "--user-default", "--set", "producer_byte_rate=4096")
	ok(t, addr, "", "quota", "alter", "--client-id-default", "--set", "consumer_byte_rate=8192", "--validate-only")
	out := ok(t, addr, "", "quota", "describe")
	for _, want := range []string{"alice", "app", "<default>", "1048576", "25.5", "2048", "4096"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "8192") {
		t.Errorf("--validate-only changed the quotas:\n%s", out)
	}
	out = ok(t, addr, "", "quota", "describe", "--user", "alice", "--strict")
	if !strings.Contains(out, "1048576") || strings.Contains(out, "2048") {
		t.Errorf("describe --user alice --strict:\n%s", out)
	}
	ok(t, addr, "", "quota", "alter", "--user", "alice", "--delete", "request_percentage")
	if out := ok(t, addr, "", "quota", "describe", "--user", "alice", "--strict"); strings.Contains(out, "25.5") {
		t.Errorf("request_percentage still there after --delete:\n%s", out)
	}
	fails(t, addr, 1, []string{"INVALID_REQUEST", "bogus"}, "quota", "alter", "--user", "bob", "--set", "bogus=1")
	fails(t, addr, 1, []string{"INVALID_REQUEST"}, "quota", "alter", "--user", "bob", "--set", "producer_byte_rate=-1")
	fails(t, addr, 2, []string{"no entity"}, "quota", "alter", "--set", "producer_byte_rate=1")
}

// TestClientQuotaSASLUser: with the authorizer on, the quota APIs need
// ALTER_CONFIGS (DESCRIBE_CONFIGS to describe) on the cluster; a quota
// of a SCRAM user throttles that user's producer over SASL_SSL (the TLS
// connection path).
func TestClientQuotaSASLUser(t *testing.T) {
	s := startSASLBroker(t, append([]string{"--set", "security.authorizer_enabled=true",
		"--set", "security.super_users=User:ANONYMOUS"}, quotaWindowArgs...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	admin := kadm.NewClient(newClient(t, s.b.Addr()))
	if _, err := admin.CreateTopic(ctx, 1, 1, nil, "user-quotas"); err != nil {
		t.Fatal(err)
	}
	aliceAuth := scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()
	alice := kadm.NewClient(s.client(t, s.saslSSL, aliceAuth, true))
	entry := clientQuota("user", "alice", "producer_byte_rate", quotaRate)
	res, err := alice.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{entry})
	if err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice alters quotas without ALTER_CONFIGS: %+v, %v", res, err)
	}
	if _, err := alice.DescribeClientQuotas(ctx, false, nil); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice describes quotas without DESCRIBE_CONFIGS: %v", err)
	}
	grant := kadm.NewACLs().Allow("User:alice").Clusters().Topics("user-quotas").
		Operations(kadm.OpAlterConfigs, kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral)
	if _, err := admin.CreateACLs(ctx, grant); err != nil {
		t.Fatal(err)
	}
	if res, err := alice.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{entry}); err != nil || res[0].Err != nil {
		t.Fatalf("alice alters quotas with ALTER_CONFIGS: %+v, %v", res, err)
	}
	if d, err := alice.DescribeClientQuotas(ctx, false, nil); err != nil || len(d) != 1 {
		t.Fatalf("alice describes quotas (ALTER_CONFIGS implies DESCRIBE_CONFIGS): %+v, %v", d, err)
	}
	rate, throttles := produceFor(t, []string{s.saslSSL}, "any", "user-quotas", 6*time.Second, 1<<40,
		kgo.SASL(aliceAuth), kgo.DialTLSConfig(s.tls))
	t.Logf("alice over SASL_SSL: %.0f KiB/s, %d throttled responses", rate/1024, throttles)
	if rate > quotaSlack*quotaRate || rate < 0.3*quotaRate || throttles == 0 {
		t.Errorf("alice: %.0f B/s with %d throttled responses, want about %d B/s and some", rate, throttles, quotaRate)
	}
}

// TestClientQuotaLibrdkafka: librdkafka (python3-confluent-kafka) under a
// client id quota is held near it and told of the throttling (throttle_cb).
func TestClientQuotaLibrdkafka(t *testing.T) {
	b := brokertest.Start(t, quotaWindowArgs...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := kadm.NewClient(newClient(t, b.Addr()))
	if _, err := admin.CreateTopic(ctx, 1, 1, nil, "librdkafka-quotas"); err != nil {
		t.Fatal(err)
	}
	res, err := admin.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{clientQuota("client-id", "slow", "producer_byte_rate", quotaRate)})
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter: %+v, %v", res, err)
	}
	out := run(t, "", "/usr/bin/python3", "testdata/confluent_quota.py", b.Addr(), "librdkafka-quotas", "slow", "6")
	var rate float64
	var throttles int
	if _, err := fmt.Sscan(out, &rate, &throttles); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	t.Logf("librdkafka: %.0f KiB/s, %d throttle events", rate/1024, throttles)
	if rate > quotaSlack*quotaRate || rate < 0.3*quotaRate || throttles == 0 {
		t.Errorf("librdkafka: %.0f B/s with %d throttle events, want about %d B/s and some", rate, throttles, quotaRate)
	}
}

// TestQuotaMutesConnection: a raw client that ignores throttle_time_ms is
// held back by the broker: before KIP-219 (Metadata v5) the response
// itself comes after the throttle time; after it (v12) the response comes
// at once and the next request on the connection waits out the throttle.
func TestQuotaMutesConnection(t *testing.T) {
	b := brokertest.Start(t, quotaWindowArgs...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := kadm.NewClient(newClient(t, b.Addr()))
	// kafkatest's client id, over any request's handler time.
	res, err := admin.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{clientQuota("client-id", "kafkatest", "request_percentage", 0.000001)})
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter: %+v, %v", res, err)
	}
	metadata := func(conn net.Conn, v int16) (time.Duration, time.Duration) {
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(v)
		start := time.Now()
		resp := rawExchange[*kmsg.MetadataResponse](t, conn, req)
		return time.Since(start), time.Duration(resp.ThrottleMillis) * time.Millisecond
	}
	took, throttle := metadata(dial(t, b.Addr()), 5)
	if throttle <= 0 || took < throttle*9/10 {
		t.Errorf("Metadata v5: answered after %v with throttle %v, want the answer delayed by the throttle", took, throttle)
	}
	conn := dial(t, b.Addr())
	took, throttle = metadata(conn, 12)
	if throttle <= 0 || took > throttle/2 {
		t.Errorf("Metadata v12: answered after %v with throttle %v, want the answer at once", took, throttle)
	}
	if next, _ := metadata(conn, 12); next+took < throttle*9/10 {
		t.Errorf("the request after a throttled v12 answer was served after %v, want the connection muted %v", next, throttle)
	}
}

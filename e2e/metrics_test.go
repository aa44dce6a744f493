package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"

	"github.com/riffle/riffle/internal/brokertest"
)

// scrape reads the broker's /metrics into name{labels} → value.
func scrape(t testing.TB, adminAddr string) map[string]float64 {
	t.Helper()
	body := httpGet(t, "http://"+adminAddr+"/metrics", http.StatusOK)
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// httpGet is the body of a GET, which must answer wantStatus (any, when
// it is 0).
func httpGet(t testing.TB, url string, wantStatus int) string {
	t.Helper()
	client := http.Client{Timeout: ioTimeout}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if wantStatus != 0 && resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, body, wantStatus)
	}
	return string(body)
}

// brokerCPUSeconds is the broker process's user+system CPU time so far.
func brokerCPUSeconds(t testing.TB, pid int) float64 {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line, in clock ticks (USER_HZ = 100).
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100
}

// TestMetricsFollowTraffic scrapes /metrics around a produce, an error, a
// consume and a group's commits: bytes and records in equal what was
// appended (batch bytes: the partition's size on a fresh topic), every
// append to a flush.messages=1 topic is an fsync sample, request and error
// counters grow, fetched record bytes go out by sendfile, and the group's
// lag falls to 0 once it commits the end of the log.
func TestMetricsFollowTraffic(t *testing.T) {
	b := brokertest.Start(t, groupBrokerArgs...)
	admin := b.AdminAddr()
	if httpGet(t, "http://"+admin+"/healthz", http.StatusOK) == "" || httpGet(t, "http://"+admin+"/readyz", http.StatusOK) == "" {
		t.Fatal("empty health answers")
	}
	const topic, rounds, perRound = "metrics", 10, 200
	const records = rounds * perRound
	createTopicWithConfigs(t, newClient(t, b.Addr()), topic, map[string]string{"flush.messages": "1"})
	before := scrape(t, admin)

	cl := newClient(t, b.Addr(), kgo.ProducerLinger(20*time.Millisecond), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range rounds { // one batch at least per round: one flush each
		var rs []*kgo.Record
		for range perRound {
			rs = append(rs, &kgo.Record{Topic: topic, Value: make([]byte, 1024)})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if code := produceErrorCode(t, b.Addr(), produceRequest("no-such-topic", nil)); code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("produce to an unknown topic: code %d", code)
	}
	produced := scrape(t, admin)
	part := `{topic="metrics",partition="0"}`
	size := produced["riffle_partition_size_bytes"+part]
	expect(t, produced, "riffle_partition_log_end_offset"+part, records)
	expect(t, produced, "riffle_partition_records_in_total"+part, records)
	expect(t, produced, "riffle_partition_bytes_in_total"+part, size)
	if size < records*1024 {
		t.Fatalf("partition size %v for %d records of 1 KiB", size, records)
	}
	expect(t, produced, `riffle_kafka_request_errors_total{api="Produce",error="UNKNOWN_TOPIC_OR_PARTITION"}`, 1)
	grew(t, before, produced, `riffle_kafka_requests_total{api="Produce"}`, rounds+1)
	grew(t, before, produced, `riffle_kafka_request_seconds_count{api="Produce"}`, rounds+1)
	grew(t, before, produced, "riffle_storage_flushes_total", rounds)
	grew(t, before, produced, "riffle_storage_fsync_seconds_count", rounds)
	grew(t, before, produced, "riffle_netio_event_loop_busy_seconds_total", 1e-9)
	promHistogram(t, produced, `riffle_kafka_request_seconds{api="Produce"}`)
	promHistogram(t, produced, "riffle_storage_fsync_seconds")
	var fs unix.Statfs_t
	if err := unix.Statfs(b.DataDir(), &fs); err != nil {
		t.Fatal(err)
	}
	expect(t, produced, "riffle_storage_disk_total_bytes", float64(fs.Blocks*uint64(fs.Bsize)))
	if free := produced["riffle_storage_disk_free_bytes"]; free <= 0 || free > float64(fs.Blocks*uint64(fs.Bsize)) {
		t.Errorf("riffle_storage_disk_free_bytes = %v of %d", free, fs.Blocks*uint64(fs.Bsize))
	}
	if produced["go_goroutines"] == 0 || produced["process_cpu_seconds_total"] == 0 {
		t.Error("no Go runtime or process metrics")
	}

	if got := consumeEverything(t, b.Addr(), topic); len(got) != records {
		t.Fatalf("consumed %d records, want %d", len(got), records)
	}
	consumed := scrape(t, admin)
	grew(t, produced, consumed, "riffle_partition_bytes_out_total"+part, size)
	grew(t, produced, consumed, "riffle_netio_sendfile_bytes_total", size)
	grew(t, produced, consumed, `riffle_kafka_requests_total{api="Fetch"}`, 1)

	// A commit of offset 500 leaves the rest as lag; a group member that
	// consumes everything and commits brings it to 0.
	const group = "metrics-group"
	commitOffset(t, newClient(t, b.Addr()), group, topic, 500)
	groupPart := `{group="metrics-group",topic="metrics",partition="0"}`
	expect(t, scrape(t, admin), "riffle_group_lag"+groupPart, records-500)
	member := newClient(t, b.Addr(), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit())
	for n := 0; n < records-500; {
		fetches := member.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("group consumed %d of %d", n, records-500)
		}
		fetches.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		n += fetches.NumRecords()
	}
	if err := member.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	committed := scrape(t, admin)
	expect(t, committed, "riffle_group_committed_offset"+groupPart, records)
	expect(t, committed, "riffle_group_lag"+groupPart, 0)
}

// promHistogram fails unless the scraped histogram (name{labels}) is a
// Prometheus one histogram_quantile can read: cumulative _bucket series
// with le bounds, the +Inf bucket equal to _count, and samples in it.
func promHistogram(t *testing.T, scraped map[string]float64, histogram string) {
	t.Helper()
	name, labels, _ := strings.Cut(strings.TrimSuffix(histogram, "}"), "{")
	if labels != "" {
		labels += ","
	}
	count := scraped[name+"_count"+strings.TrimPrefix(histogram, name)]
	if count == 0 {
		t.Fatalf("%s: no samples", histogram)
	}
	type bucket struct{ le, n float64 }
	var buckets []bucket
	for series, n := range scraped {
		rest, ok := strings.CutPrefix(series, name+"_bucket{"+labels+`le="`)
		if !ok {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(rest, `"}`), 64)
		if err != nil {
			t.Fatalf("%s: bound of %s: %v", histogram, series, err)
		}
		buckets = append(buckets, bucket{le, n})
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].le < buckets[j].le })
	if len(buckets) < 10 || !math.IsInf(buckets[len(buckets)-1].le, 1) {
		t.Fatalf("%s: le buckets %v, want at least 10 ending with +Inf", histogram, buckets)
	}
	for i := 1; i < len(buckets); i++ {
		if buckets[i].n < buckets[i-1].n {
			t.Fatalf("%s: buckets not cumulative: %v", histogram, buckets)
		}
	}
	if inf := buckets[len(buckets)-1].n; inf != count {
		t.Fatalf("%s: +Inf bucket %v, _count %v", histogram, inf, count)
	}
}

// expect fails unless the scraped metric has the value want.
func expect(t *testing.T, scraped map[string]float64, metric string, want float64) {
	t.Helper()
	if got, ok := scraped[metric]; !ok || got != want {
		t.Errorf("%s = %v (present: %v), want %v", metric, got, ok, want)
	}
}

// grew fails unless metric grew by at least min between two scrapes.
func grew(t *testing.T, before, after map[string]float64, metric string, min float64) {
	t.Helper()
	if d := after[metric] - before[metric]; d < min {
		t.Errorf("%s grew by %v (%v to %v), want at least %v", metric, d, before[metric], after[metric], min)
	}
}

// createTopicWithConfigs creates a one-partition topic with configs.
func createTopicWithConfigs(t *testing.T, cl *kgo.Client, topic string, configs map[string]string) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 1, 1
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10_000
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("create topic %s: %v", topic, kerr.ErrorForCode(code))
	}
}

// commitOffset commits offset for partition 0 of topic as a group with no
// members does (generation -1).
func commitOffset(t *testing.T, cl *kgo.Client, group, topic string, offset int64) {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = 0, offset, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatalf("offset commit: %v", err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("offset commit: %v", kerr.ErrorForCode(code))
	}
}

// TestMetricsVersionProbeNotAnError connects franz-go clients, which ask
// for ApiVersions at their newest version first and retry with ours: that
// negotiation is counted apart, not as an ApiVersions error.
func TestMetricsVersionProbeNotAnError(t *testing.T) {
	b := brokertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := newClient(t, b.Addr()).Ping(ctx); err != nil {
		t.Fatal(err)
	}
	scraped := scrape(t, b.AdminAddr())
	for series, v := range scraped {
		if strings.HasPrefix(series, `riffle_kafka_request_errors_total{api="ApiVersions"`) {
			t.Errorf("%s = %v after a client connected", series, v)
		}
	}
	if _, ok := scraped["riffle_kafka_api_versions_fallbacks_total"]; !ok {
		t.Error("no riffle_kafka_api_versions_fallbacks_total")
	}
}

// TestMetricsGroupSeriesOfDeletedTopicGo commits a group's offset on a
// topic, deletes the topic, and waits for the group's series of it to
// disappear, as the topic's own do; another topic's stay.
func TestMetricsGroupSeriesOfDeletedTopicGo(t *testing.T) {
	b := brokertest.Start(t, groupBrokerArgs...)
	cl := newClient(t, b.Addr())
	for _, topic := range []string{"doomed", "kept"} {
		createTopicWithConfigs(t, cl, topic, nil)
		commitOffset(t, cl, "watcher", topic, 0)
	}
	series := func(topic string) []string {
		var found []string
		for s := range scrape(t, b.AdminAddr()) {
			if strings.Contains(s, `topic="`+topic+`"`) {
				found = append(found, s)
			}
		}
		return found
	}
	doomed := `{group="watcher",topic="doomed",partition="0"}`
	if s := scrape(t, b.AdminAddr()); !hasSeries(s, "riffle_group_committed_offset"+doomed, "riffle_group_lag"+doomed) {
		t.Fatalf("no group series before the deletion: %v", series("doomed"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if resp, err := kadm.NewClient(cl).DeleteTopic(ctx, "doomed"); err != nil || resp.Err != nil {
		t.Fatalf("delete topic: %v %v", err, resp.Err)
	}
	waitFor(t, 30*time.Second, "the deleted topic's series to disappear", func() bool { return len(series("doomed")) == 0 })
	kept := `{group="watcher",topic="kept",partition="0"}`
	if s := scrape(t, b.AdminAddr()); !hasSeries(s, "riffle_group_committed_offset"+kept, "riffle_group_lag"+kept) {
		t.Errorf("the other topic's group series went too: %v", series("kept"))
	}
}

// hasSeries reports whether every series is in scraped.
func hasSeries(scraped map[string]float64, series ...string) bool {
	for _, s := range series {
		if _, ok := scraped[s]; !ok {
			return false
		}
	}
	return true
}

// TestMetricsGroupLagBeforeFirstCommit has a group member read a topic
// without committing: the group's lag shows every record as unread from
// the moment it has members, with no committed offset series.
func TestMetricsGroupLagBeforeFirstCommit(t *testing.T) {
	b := brokertest.Start(t, groupBrokerArgs...)
	cl := newClient(t, b.Addr())
	createTopicWithConfigs(t, cl, "fresh", nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 7 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "fresh", Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	member := newClient(t, b.Addr(), kgo.ConsumerGroup("newcomers"), kgo.ConsumeTopics("fresh"), kgo.DisableAutoCommit())
	for n := 0; n < 7; {
		fetches := member.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("member consumed %d of 7", n)
		}
		n += fetches.NumRecords()
	}
	labels := `{group="newcomers",topic="fresh",partition="0"}`
	scraped := scrape(t, b.AdminAddr())
	expect(t, scraped, "riffle_group_lag"+labels, 7)
	if v, ok := scraped["riffle_group_committed_offset"+labels]; ok {
		t.Errorf("riffle_group_committed_offset%s = %v with no commit", labels, v)
	}
}

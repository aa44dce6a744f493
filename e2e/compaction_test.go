package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
)

// cleanerArgs make the cleaner look for work often and segments roll by
// age quickly, so that the active segment becomes cleanable.
var cleanerArgs = []string{"--set", "log.cleaner_backoff_ms=100", "--set", "log.segment_ms=1500"}

// A compacted topic written with many records over few keys and consumed
// from the start with franz-go: every key's last value is there, and at
// most a segment's worth of records beyond one per key. RIFFLE_LONG=1
// writes the 1,000,000 records over 1,000 keys.
func TestCompactedTopicKeepsLatestPerKey(t *testing.T) {
	records, keys := 100_000, 1_000
	if os.Getenv("RIFFLE_LONG") == "1" {
		records = 1_000_000
	}
	const topic, segmentBytes = "compacted", 256 << 10
	b := brokertest.Start(t, cleanerArgs...)
	// Uncompressed batches of at most 64 KiB, so that a segment's worth
	// of bytes bounds a segment's worth of records (the cleaner's handling
	// of compressed batches is tested in segment/).
	const batchBytes = 64 << 10
	cl := newClient(t, b.Addr(), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(batchBytes))
	createTopicWithConfigs(t, cl, topic, map[string]string{
		"cleanup.policy": "compact", "segment.bytes": strconv.Itoa(segmentBytes), "min.cleanable.dirty.ratio": "0.01",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	value := func(i int) string { return fmt.Sprintf("value-%09d-%s", i, "abcdefghijklmnopqrstuvwxyz0123456789") }
	const chunk = 5000
	for from := 0; from < records; from += chunk {
		rs := make([]*kgo.Record, 0, chunk)
		for i := from; i < min(from+chunk, records); i++ {
			rs = append(rs, &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i % keys)), Value: []byte(value(i))})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for the cleaner: nothing dirty below the active segment, and
	// the log down to about a record per key (each ~70 bytes on disk)
	// and what the active segment holds.
	part := `{topic="` + topic + `",partition="0"}`
	bound := float64(keys*150 + segmentBytes)
	waitFor(t, 2*time.Minute, "the compacted topic to shrink", func() bool {
		m := scrape(t, b.AdminAddr())
		ratio, ok := m["riffle_cleaner_dirty_ratio"+part]
		return ok && ratio == 0 && m["riffle_partition_size_bytes"+part] < bound
	})
	m := scrape(t, b.AdminAddr())
	if m["riffle_cleaner_runs_total"] < 1 || m["riffle_cleaner_written_bytes_total"] <= 0 || m["riffle_cleaner_errors_total"] != 0 {
		t.Errorf("cleaner metrics: runs %v, written %v, errors %v", m["riffle_cleaner_runs_total"],
			m["riffle_cleaner_written_bytes_total"], m["riffle_cleaner_errors_total"])
	}
	if _, ok := m["riffle_cleaner_dirty_ratio"+part]; !ok {
		t.Error("no dirty ratio for the compacted topic")
	}

	end := endOffsets(t, b.Addr(), topic)[0]
	if end != int64(records) {
		t.Fatalf("end offset %d, want %d", end, records)
	}
	consumer := newClient(t, b.Addr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	last := map[string]string{}
	read := 0
	for done := false; !done; {
		fetches := consumer.PollFetches(ctx)
		if err := fetches.Err(); err != nil {
			t.Fatal(err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			read++
			if want := value(int(r.Offset)); string(r.Value) != want {
				t.Fatalf("offset %d holds %q, written %q", r.Offset, r.Value, want)
			}
			last[string(r.Key)] = string(r.Value)
			done = done || r.Offset >= end-1
		})
	}
	for k := range keys {
		lastIndex := records - keys + k
		if got := last[strconv.Itoa(k)]; got != value(lastIndex) {
			t.Fatalf("key %d: last value %q, want %q", k, got, value(lastIndex))
		}
	}
	perSegment := (segmentBytes + batchBytes) / 60 // a record takes more than 60 bytes
	if read > keys+perSegment {
		t.Fatalf("read %d records of %d keys: more than a segment's worth (%d) beyond one per key", read, keys, perSegment)
	}
	t.Logf("%d records over %d keys compacted to %d", records, keys, read)
}

// A group committing many times, then the broker restarted: the load of
// __consumer_offsets replays about one record per committed offset, not
// the history of commits.
func TestOffsetsTopicLoadStaysBounded(t *testing.T) {
	const commits = 5000
	b := brokertest.Start(t, append(cleanerArgs, groupBrokerArgs...)...)
	cl := newClient(t, b.Addr())
	createTopicWithConfigs(t, cl, "committed", nil)
	for i := range commits {
		commitOffset(t, cl, "many-commits", "committed", int64(i))
	}
	offsetsSeries := regexp.MustCompile(`^riffle_partition_size_bytes\{topic="__consumer_offsets"`)
	offsetsSize := func() float64 {
		var n float64
		for series, v := range scrape(t, b.AdminAddr()) {
			if offsetsSeries.MatchString(series) {
				n += v
			}
		}
		return n
	}
	waitFor(t, 2*time.Minute, "__consumer_offsets to be compacted", func() bool { return offsetsSize() < 20_000 })
	b.Restart()
	loaded := regexp.MustCompile(`offsets partition loaded.*records=(\d+)`)
	var total int
	waitFor(t, time.Minute, "the offsets partitions to load", func() bool {
		total = 0
		ms := loaded.FindAllStringSubmatch(b.Output(), -1)
		for _, m := range ms {
			n, _ := strconv.Atoi(m[1])
			total += n
		}
		return len(ms) > 0
	})
	if total > 100 {
		t.Fatalf("after %d commits the restart replayed %d records", commits, total)
	}
	t.Logf("after %d commits the restart replayed %d records", commits, total)
	committedAfter := fetchCommitted(t, newClient(t, b.Addr()), "many-commits", "committed")
	if committedAfter != commits-1 {
		t.Fatalf("committed offset after restart %d, want %d", committedAfter, commits-1)
	}
}

// fetchCommitted is the group's committed offset of topic's partition 0.
func fetchCommitted(t *testing.T, cl *kgo.Client, group, topic string) int64 {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("offset fetch: %v %+v", err, resp)
	}
	return resp.Topics[0].Partitions[0].Offset
}

// Each replica of a compacted topic cleans its own log, and a follower
// that was stopped while the leader cleaned catches up from the leader's
// cleaned log (holes, emptied batches) to the same log end, back in the
// ISR, and cleans its copy too.
func TestCompactedTopicReplicated(t *testing.T) {
	c := brokertest.StartCluster(t, 3, append(cleanerArgs, "--set", "replication.replica_fetch_backoff_ms=100")...)
	const topic, keys, records, segmentBytes = "compacted-replicated", 100, 20_000, 64 << 10
	admin := newClient(t, c.Addrs()[0])
	createReplicatedTopic(t, admin, topic, 1, 3, map[string]string{
		"cleanup.policy": "compact", "segment.bytes": strconv.Itoa(segmentBytes), "min.cleanable.dirty.ratio": "0.01",
		"replica.lag.time.max.ms": "3000",
	})
	leader := partitionLeader(t, c.Addrs()[0], topic, -1)
	follower := followerNotController(t, c.Addrs()[0], leader)
	resume := pauseBroker(t, c, follower)

	cl := newClient(t, c.Node(leader).Addr(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(16<<10))
	ctx, cancel := context.WithTimeout(context.Background(), replicationWait)
	defer cancel()
	var rs []*kgo.Record
	for i := range records {
		rs = append(rs, &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i % keys)), Value: []byte(fmt.Sprintf("v%08d", i))})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	part := `{topic="` + topic + `",partition="0"}`
	bound := float64(keys*100 + 2*segmentBytes)
	cleaned := func(id int32) bool {
		m := scrape(t, c.Node(id).AdminAddr())
		return m["riffle_partition_log_end_offset"+part] == records && m["riffle_partition_size_bytes"+part] < bound
	}
	waitFor(t, replicationWait, "the leader to clean its log", func() bool { return cleaned(leader) })
	resume()
	for id := int32(1); id <= 3; id++ {
		waitFor(t, replicationWait, fmt.Sprintf("replica %d to hold every offset, cleaned", id), func() bool { return cleaned(id) })
	}
	waitMetadata(t, c.Addrs()[0], replicationWait, "the follower back in the ISR", func(m *kmsg.MetadataResponse) bool {
		return len(partitionISR(m, topic)) == 3
	})
	if m := scrape(t, c.Node(follower).AdminAddr()); m["riffle_replica_fetch_bytes_total"] >= records*10 {
		t.Errorf("the follower fetched %v bytes: not the cleaned log", m["riffle_replica_fetch_bytes_total"])
	}
}

// TestCompactionProduceLatency (RIFFLE_LONG=1) measures, in one run, the
// produce p99 at 50,000 records/s of 100 bytes with no compaction going
// on, then with the cleaner compacting a topic that another producer
// keeps rewriting over 1,000 keys. It logs both; it fails only if the
// cleaner never ran meanwhile.
func TestCompactionProduceLatency(t *testing.T) {
	if os.Getenv("RIFFLE_LONG") != "1" {
		t.Skip("RIFFLE_LONG=1 runs it")
	}
	b := brokertest.Start(t, cleanerArgs...)
	admin := newClient(t, b.Addr())
	createTopicWithConfigs(t, admin, "latency", nil)
	createTopicWithConfigs(t, admin, "churn", map[string]string{
		"cleanup.policy": "compact", "segment.bytes": strconv.Itoa(1 << 20), "min.cleanable.dirty.ratio": "0.1",
	})
	measure := func(what string) time.Duration {
		cl := newClient(t, b.Addr(), kgo.ProducerLinger(time.Millisecond), kgo.DefaultProduceTopic("latency"))
		const rate, seconds = 50_000, 10
		lat := make(chan time.Duration, rate*seconds)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		value := make([]byte, 100)
		for range seconds * 1000 {
			<-tick.C
			for range rate / 1000 {
				sent := time.Now()
				cl.Produce(context.Background(), &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
					if err != nil {
						t.Errorf("produce: %v", err)
					}
					lat <- time.Since(sent)
				})
			}
		}
		if err := cl.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		close(lat)
		var all []time.Duration
		for d := range lat {
			all = append(all, d)
		}
		slices.Sort(all)
		p99 := all[len(all)*99/100]
		t.Logf("%s: %d records, p50 %v, p99 %v", what, len(all), all[len(all)/2], p99)
		return p99
	}
	measure("no cleaner work")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("churn"), kgo.ProducerBatchCompression(kgo.NoCompression()))
		value := make([]byte, 200)
		for i := 0; ; i++ {
			select {
			case <-stop:
				_ = cl.Flush(context.Background())
				return
			default:
			}
			cl.Produce(context.Background(), &kgo.Record{Key: []byte(strconv.Itoa(i % 1000)), Value: value}, nil)
			if i%1000 == 999 {
				_ = cl.Flush(context.Background())
			}
		}
	}()
	before := scrape(t, b.AdminAddr())["riffle_cleaner_read_bytes_total"]
	measure("cleaner compacting a churning topic")
	close(stop)
	<-done
	m := scrape(t, b.AdminAddr())
	t.Logf("the cleaner read %.0f MB and wrote %.0f MB meanwhile", (m["riffle_cleaner_read_bytes_total"]-before)/1e6, m["riffle_cleaner_written_bytes_total"]/1e6)
	if m["riffle_cleaner_read_bytes_total"] <= before {
		t.Fatal("the cleaner did not run during the second measurement")
	}
}

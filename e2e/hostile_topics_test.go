package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
)

// TestHostileTopicCounts: a Metadata request naming 100,000 unknown topics
// with auto-create on (the default) answers promptly and creates at most
// max_auto_create_per_request of them, repeated requests at most the
// auto-create rate allows, and a CreateTopics of 10,000 partitions past
// the broker's partition limit is POLICY_VIOLATION and creates nothing;
// a well-behaved client beside it keeps being served.
func TestHostileTopicCounts(t *testing.T) {
	// max_auto_create_per_request keeps its default, 20.
	const perBrokerMax, perRequestMax, ratePerSec = 1000, 20, 5
	start := time.Now()
	b := brokertest.Start(t, "--set", fmt.Sprintf("topics.max_partitions_per_broker=%d", perBrokerMax),
		"--set", fmt.Sprintf("topics.auto_create_rate_per_sec=%d", ratePerSec))
	by := startBystander(t, b.Addr())
	by.waitProgress(t, 10, 30*time.Second)
	cl := newClient(t, b.Addr())
	countTopics := func() int {
		t.Helper()
		req := kmsg.NewPtrMetadataRequest()
		req.Topics = nil // all of them
		resp, err := req.RequestWith(context.Background(), cl)
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.Topics)
	}
	before := countTopics()

	const requests, names = 4, 100_000
	for r := range requests {
		req := kmsg.NewPtrMetadataRequest()
		req.AllowAutoTopicCreation = true
		for i := range names {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(fmt.Sprintf("hostile-%d-%d", r, i))
			req.Topics = append(req.Topics, rt)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		sent := time.Now()
		resp, err := req.RequestWith(ctx, cl)
		cancel()
		if err != nil {
			t.Fatalf("Metadata naming %d topics: %v after %v", names, err, time.Since(sent))
		}
		took := time.Since(sent)
		codes := map[int16]int{}
		for _, mt := range resp.Topics {
			codes[mt.ErrorCode]++
		}
		t.Logf("request %d: answered in %v: %v", r, took, codes)
		if len(resp.Topics) != names {
			t.Fatalf("%d topics answered, want %d", len(resp.Topics), names)
		}
		if unknown := codes[kerr.UnknownTopicOrPartition.Code]; unknown < names-perRequestMax {
			t.Errorf("%d of %d answered UNKNOWN_TOPIC_OR_PARTITION: more than %d created", unknown, names, perRequestMax)
		}
		if took > 20*time.Second {
			t.Errorf("Metadata naming %d topics took %v", names, took)
		}
	}
	created := countTopics() - before
	// The bucket starts full (a burst of ratePerSec) and refills at the
	// rate, from after start.
	allowed := ratePerSec + int(time.Since(start).Seconds()*ratePerSec)
	if created < 1 || created > allowed {
		t.Errorf("%d topics auto-created, want 1 to %d", created, allowed)
	}

	// One CreateTopics of 10,000 partitions, past the broker's 1,000.
	c, err := requestCreateTopic(cl, "hostile-huge", 10_000)
	if err != nil {
		t.Fatal(err)
	}
	if c != kerr.PolicyViolation.Code {
		t.Errorf("CreateTopics of 10,000 partitions: %v, want POLICY_VIOLATION", kerr.ErrorForCode(c))
	}
	if n := countTopics() - before; n != created {
		t.Errorf("%d topics after the refused CreateTopics, want %d", n, created)
	}

	by.check(t, 10*time.Second)
	u := brokerUsage(t, b)
	t.Logf("broker: %v CPU, %d MiB resident", u.cpu, u.rssBytes>>20)
}

package kafka

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

// autoCreateCodes asks for n new topics named prefix0... with auto-create
// on and returns how many were answered with each error code.
func autoCreateCodes(t *testing.T, s *brokerStack, prefix string, n int) map[int16]int {
	t.Helper()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	resp := roundTrip[*kmsg.MetadataResponse](t, s.b, metadataReq(9, true, names...))
	if len(resp.Topics) != n {
		t.Fatalf("%d topics answered, want %d", len(resp.Topics), n)
	}
	codes := map[int16]int{}
	for _, mt := range resp.Topics {
		codes[mt.ErrorCode]++
	}
	return codes
}

func TestMetadataAutoCreateLimited(t *testing.T) {
	now := time.Unix(1e9, 0) // requests are served on this goroutine
	cfg := stackConfig()
	cfg.AutoCreatePerRequestMax, cfg.AutoCreateRatePerSec = 5, 8
	cfg.Now = func() time.Time { return now }
	s := newBrokerStack(t, cfg)
	topics := func() int { return s.ctrl.Image().TopicCount() }

	// One request naming 1,000 new topics creates 5; the others are
	// UNKNOWN_TOPIC_OR_PARTITION, which clients retry.
	start := time.Now()
	if codes := autoCreateCodes(t, s, "a", 1000); codes[0] != 5 || codes[kerr.UnknownTopicOrPartition.Code] != 995 {
		t.Fatalf("codes %v, want 5 created and 995 UNKNOWN_TOPIC_OR_PARTITION", codes)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("the request took %v", took)
	}
	if topics() != 5 {
		t.Fatalf("%d topics created, want 5", topics())
	}
	// The bucket holds 8 a second: 3 are left this second.
	if codes := autoCreateCodes(t, s, "b", 10); codes[0] != 3 {
		t.Fatalf("codes %v, want the 3 left in the bucket created", codes)
	}
	if codes := autoCreateCodes(t, s, "c", 10); codes[0] != 0 {
		t.Fatalf("codes %v with the bucket empty", codes)
	}
	// Half a second later 4 tokens are back; ten seconds later only 8,
	// and the request cap still holds.
	now = now.Add(500 * time.Millisecond)
	if codes := autoCreateCodes(t, s, "d", 10); codes[0] != 4 {
		t.Fatalf("codes %v, want 4 after half a second", codes)
	}
	now = now.Add(10 * time.Second)
	if codes := autoCreateCodes(t, s, "e", 10); codes[0] != 5 {
		t.Fatalf("codes %v, want the request cap of 5", codes)
	}
	if codes := autoCreateCodes(t, s, "f", 10); codes[0] != 3 {
		t.Fatalf("codes %v, want the burst of 8 spent", codes)
	}
	if topics() != 5+3+4+5+3 {
		t.Fatalf("%d topics", topics())
	}
	// Known topics are answered whatever the bucket holds.
	if codes := autoCreateCodes(t, s, "a", 5); codes[0] != 5 {
		t.Fatalf("codes %v for existing topics", codes)
	}
}

func TestCreateTopicsBrokerPartitionLimit(t *testing.T) {
	s := newBrokerStackLimits(t, stackConfig(), quorum.Options{BrokerPartitionsMax: 100})
	code := func(topic kmsg.CreateTopicsRequestTopic) int16 {
		t.Helper()
		resp := roundTrip[*kmsg.CreateTopicsResponse](t, s.b, createTopicsReq(7, false, topic))
		return resp.Topics[0].ErrorCode
	}
	// 10,000 partitions pass the broker's limit of 100: nothing is created.
	if c := code(newTopic("huge", 10000, 1)); c != kerr.PolicyViolation.Code {
		t.Fatalf("huge: %v, want POLICY_VIOLATION", kerr.ErrorForCode(c))
	}
	if im := s.ctrl.Image(); im.Topic("huge") != nil || s.Partition("huge", 0) != nil {
		t.Fatal("huge created")
	}
	if c := code(newTopic("fits", 100, 1)); c != 0 {
		t.Fatalf("fits: %v", kerr.ErrorForCode(c))
	}
	if c := code(newTopic("one-more", 1, 1)); c != kerr.PolicyViolation.Code {
		t.Fatalf("one-more: %v, want POLICY_VIOLATION", kerr.ErrorForCode(c))
	}
	// A bad count is INVALID_PARTITIONS, limit or not.
	if c := code(newTopic("none", 0, 1)); c != kerr.InvalidPartitions.Code {
		t.Fatalf("none: %v, want INVALID_PARTITIONS", kerr.ErrorForCode(c))
	}
	req := kmsg.NewPtrCreatePartitionsRequest()
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = "fits", 101
	req.Topics = append(req.Topics, rt)
	resp := roundTrip[*kmsg.CreatePartitionsResponse](t, s.b, req)
	if c := resp.Topics[0].ErrorCode; c != kerr.PolicyViolation.Code || len(s.ctrl.Image().Topic("fits").Partitions) != 100 {
		t.Fatalf("CreatePartitions past the limit: %v", kerr.ErrorForCode(c))
	}
}

func TestCreateTopicsRequestPartitionLimit(t *testing.T) {
	cfg := stackConfig()
	cfg.PartitionsPerRequestMax = 10
	s := newBrokerStack(t, cfg)
	// The request adds 6, then 6 more would make 12: refused, as is
	// everything past the cap; a topic that still fits is created.
	resp := roundTrip[*kmsg.CreateTopicsResponse](t, s.b, createTopicsReq(7, false,
		newTopic("a", 6, 1), newTopic("b", 6, 1), newTopic("c", -1, 1), newTopic("d", 4, 1)))
	want := []int16{0, kerr.PolicyViolation.Code, 0, kerr.PolicyViolation.Code}
	for i, st := range resp.Topics {
		if st.ErrorCode != want[i] {
			t.Errorf("%s: %v, want %v", st.Topic, kerr.ErrorForCode(st.ErrorCode), kerr.ErrorForCode(want[i]))
		}
	}
	if im := s.ctrl.Image(); im.Topic("b") != nil || im.Topic("d") != nil || im.Topic("c") == nil {
		t.Fatal("created past the request's cap")
	}
	// CreatePartitions counts what it adds over all its topics.
	req := kmsg.NewPtrCreatePartitionsRequest()
	for _, tc := range []struct {
		topic string
		count int32
	}{{"a", 10}, {"c", 8}} {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = tc.topic, tc.count
		req.Topics = append(req.Topics, rt)
	}
	presp := roundTrip[*kmsg.CreatePartitionsResponse](t, s.b, req)
	if presp.Topics[0].ErrorCode != 0 || presp.Topics[1].ErrorCode != kerr.PolicyViolation.Code {
		t.Fatalf("CreatePartitions: %+v", presp.Topics)
	}
	if im := s.ctrl.Image(); len(im.Topic("a").Partitions) != 10 || len(im.Topic("c").Partitions) != 1 {
		t.Fatal("CreatePartitions past the request's cap")
	}
}

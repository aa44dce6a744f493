package kafka

import (
	"maps"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/replica"
)

// recordingObserver keeps what an Observer is told.
type recordingObserver struct {
	mu        sync.Mutex
	requests  map[int16]int
	badTiming int              // requests reported with a negative wait or no handling time
	codes     map[[2]int16]int // {api key, code}
	produced  map[*replica.Partition][2]int64
	fetched   map[*replica.Partition]int64
}

func newRecordingObserver() *recordingObserver {
	return &recordingObserver{requests: map[int16]int{}, codes: map[[2]int16]int{},
		produced: map[*replica.Partition][2]int64{}, fetched: map[*replica.Partition]int64{}}
}

func (o *recordingObserver) Request(apiKey int16, queued, handled time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if handled <= 0 || queued < 0 {
		o.badTiming++
	}
	o.requests[apiKey]++
}

func (o *recordingObserver) ErrorCode(apiKey, code int16) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.codes[[2]int16{apiKey, code}]++
}

func (o *recordingObserver) Produced(p *replica.Partition, batchBytes, records int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	got := o.produced[p]
	o.produced[p] = [2]int64{got[0] + batchBytes, got[1] + records}
}

func (o *recordingObserver) Fetched(p *replica.Partition, recordBytes int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fetched[p] += recordBytes
}

func (o *recordingObserver) Throttled(QuotaType, time.Duration) {}

// TestObserverFollowsRequests produces and fetches with some partitions in
// error and checks every report: requests per key, each error code in the
// responses (kmsg and hand-encoded), bytes and records in and out.
func TestObserverFollowsRequests(t *testing.T) {
	obs := newRecordingObserver()
	cfg := stackConfig()
	cfg.Observer = obs
	s := newTopicStack(t, cfg, 2)
	batch0, batch1 := plainBatch(3), plainBatch(5)
	resp := roundTrip[*kmsg.ProduceResponse](t, s.b, produceReq(9, -1, s.topic, map[int32][]byte{0: batch0, 1: batch1, 7: plainBatch(1)}))
	if len(resp.Topics[0].Partitions) != 3 {
		t.Fatalf("produce response %+v", resp)
	}
	// A second batch to partition 0 adds to its counts; a produce to an
	// unknown topic adds an error only.
	s.produceOne(9, -1, s.topic, plainBatch(2))
	s.produceOne(9, -1, "nope", plainBatch(2))
	roundTrip[*kmsg.FetchResponse](t, s.b, s.fetchReq(12, map[int32]int64{0: 0, 1: 0, 9: 0}))

	obs.mu.Lock()
	defer obs.mu.Unlock()
	p0, p1 := s.partition(0), s.partition(1)
	wantProduced := map[*replica.Partition][2]int64{
		p0: {int64(len(batch0) + len(plainBatch(2))), 3 + 2},
		p1: {int64(len(batch1)), 5},
	}
	if !maps.Equal(obs.produced, wantProduced) {
		t.Errorf("produced %v, want %v", obs.produced, wantProduced)
	}
	wantFetched := map[*replica.Partition]int64{p0: p0.Log().SizeBytes(), p1: p1.Log().SizeBytes()}
	if !maps.Equal(obs.fetched, wantFetched) {
		t.Errorf("fetched %v, want %v (the logs' sizes)", obs.fetched, wantFetched)
	}
	unknown := kerr.UnknownTopicOrPartition.Code
	wantCodes := map[[2]int16]int{{0, unknown}: 2, {1, unknown}: 1}
	if !maps.Equal(obs.codes, wantCodes) {
		t.Errorf("error codes %v, want %v", obs.codes, wantCodes)
	}
	if wantRequests := map[int16]int{0: 3, 1: 1}; !maps.Equal(obs.requests, wantRequests) || obs.badTiming != 0 {
		t.Errorf("requests %v (%d badly timed), want %v", obs.requests, obs.badTiming, wantRequests)
	}
}

// TestErrorCodePlanNested checks the plan finds codes at every depth, in
// struct and slice fields, and nowhere else.
func TestErrorCodePlanNested(t *testing.T) {
	type leaf struct {
		ErrorCode       int16
		ConfigErrorCode int16
		Other           int16
	}
	type mid struct {
		Leaves []leaf
		Name   string
	}
	type top struct {
		ErrorCode int16
		Mids      []mid
		One       leaf
		Plain     []int16
	}
	v := top{ErrorCode: 1, Mids: []mid{{Leaves: []leaf{{ErrorCode: 2, Other: 99}, {ConfigErrorCode: 3}}}, {}}, One: leaf{ErrorCode: 4}, Plain: []int16{98}}
	obs := newRecordingObserver()
	rv := reflect.ValueOf(v)
	planFor(rv.Type()).walk(rv, obs, 5)
	want := map[[2]int16]int{{5, 1}: 1, {5, 2}: 1, {5, 3}: 1, {5, 4}: 1}
	if !maps.Equal(obs.codes, want) {
		t.Fatalf("codes %v, want %v", obs.codes, want)
	}
}

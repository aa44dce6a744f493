package kafka

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

var t0 = time.Unix(1_700_000_000, 0)

func want(topic string, partition int32, offset int64) fetchWant {
	return fetchWant{fetchKey: fetchKey{topic: topic, partition: partition}, fetchOffset: offset, maxBytes: 1 << 20}
}

func sent(hw int64) fetchSent {
	return fetchSent{highWatermark: hw, lastStable: hw, logStartOffset: 0}
}

// wantNames lists the planned partitions as "topic/partition".
func wantNames(p fetchPlan) []fetchKey {
	var out []fetchKey
	for _, w := range p.wants {
		out = append(out, w.fetchKey)
	}
	return out
}

// openSession runs a full fetch that creates a session over wants, all
// answered with high watermark hw.
func openSession(t *testing.T, c *fetchSessions, hw int64, wants ...fetchWant) int32 {
	t.Helper()
	p := c.plan(sessionRequest{wants: wants}, t0)
	if p.errorCode != 0 || p.sessionID == 0 || p.incremental {
		t.Fatalf("full fetch: %+v", p)
	}
	all := make([]fetchSent, len(p.wants))
	for i := range all {
		all[i] = sent(hw)
	}
	include, code := c.finish(&p, all, t0)
	if code != 0 || slices.Contains(include, false) {
		t.Fatalf("full fetch answers %v, code %d", include, code)
	}
	return p.sessionID
}

// incremental runs an incremental fetch and returns the partitions answered,
// each answered as results says (default: high watermark 10).
func incremental(t *testing.T, c *fetchSessions, id, epoch int32, req sessionRequest, results map[fetchKey]fetchSent) []fetchKey {
	t.Helper()
	req.id, req.epoch = id, epoch
	p := c.plan(req, t0)
	if p.errorCode != 0 || !p.incremental || p.sessionID != id {
		t.Fatalf("incremental epoch %d: %+v", epoch, p)
	}
	all := make([]fetchSent, len(p.wants))
	for i, w := range p.wants {
		all[i] = sent(10)
		if r, ok := results[w.fetchKey]; ok {
			all[i] = r
		}
	}
	include, code := c.finish(&p, all, t0)
	if code != 0 {
		t.Fatalf("finish: code %d", code)
	}
	var out []fetchKey
	for i, in := range include {
		if in {
			out = append(out, p.wants[i].fetchKey)
		}
	}
	return out
}

func TestFetchSessionIncrementalAnswersOnlyChanges(t *testing.T) {
	c := newFetchSessions(10)
	a0, a1, b0 := fetchKey{topic: "a", partition: 0}, fetchKey{topic: "a", partition: 1}, fetchKey{topic: "b", partition: 0}
	id := openSession(t, c, 10, want("a", 0, 0), want("a", 1, 0), want("b", 0, 0))

	if got := incremental(t, c, id, 1, sessionRequest{}, nil); len(got) != 0 {
		t.Fatalf("nothing changed, answered %v", got)
	}
	got := incremental(t, c, id, 2, sessionRequest{}, map[fetchKey]fetchSent{a1: sent(11)})
	if !slices.Equal(got, []fetchKey{a1}) {
		t.Fatalf("HW moved on a/1, answered %v", got)
	}
	withRecords := fetchSent{highWatermark: 11, lastStable: 11, recordBytes: 100}
	got = incremental(t, c, id, 3, sessionRequest{}, map[fetchKey]fetchSent{a1: withRecords})
	if !slices.Equal(got, []fetchKey{a1}) {
		t.Fatalf("records on a/1, answered %v", got)
	}
	lso := fetchSent{highWatermark: 10, lastStable: 9}
	logStart := fetchSent{highWatermark: 10, lastStable: 10, logStartOffset: 5}
	got = incremental(t, c, id, 4, sessionRequest{}, map[fetchKey]fetchSent{a0: lso, b0: logStart, a1: sent(11)})
	if !slices.Equal(got, []fetchKey{a0, b0}) {
		t.Fatalf("LSO on a/0, log start on b/0, answered %v", got)
	}
}

func TestFetchSessionErrorsAlwaysAnsweredAndResent(t *testing.T) {
	c := newFetchSessions(10)
	a0 := fetchKey{topic: "a", partition: 0}
	id := openSession(t, c, 10, want("a", 0, 0))
	failed := fetchSent{errorCode: kerr.NotLeaderForPartition.Code, highWatermark: 10, lastStable: 10}
	for epoch := int32(1); epoch <= 2; epoch++ {
		if got := incremental(t, c, id, epoch, sessionRequest{}, map[fetchKey]fetchSent{a0: failed}); len(got) != 1 {
			t.Fatalf("epoch %d: error not answered: %v", epoch, got)
		}
	}
	// The error cleared with the same offsets: still answered once.
	if got := incremental(t, c, id, 3, sessionRequest{}, nil); len(got) != 1 {
		t.Fatalf("cleared error not answered: %v", got)
	}
	if got := incremental(t, c, id, 4, sessionRequest{}, nil); len(got) != 0 {
		t.Fatalf("answered again: %v", got)
	}
}

// TestFetchSessionPreferredReplicaAnswered: a partition naming a
// preferred read replica is answered though its offsets did not change
// (Kafka's FetchSession.maybeUpdateResponseData), or a consumer would
// never learn where to go.
func TestFetchSessionPreferredReplicaAnswered(t *testing.T) {
	c := newFetchSessions(10)
	a0 := fetchKey{topic: "a", partition: 0}
	id := openSession(t, c, 10, want("a", 0, 0))
	redirected := fetchSent{highWatermark: 10, lastStable: 10, preferred: true}
	if got := incremental(t, c, id, 1, sessionRequest{}, map[fetchKey]fetchSent{a0: redirected}); len(got) != 1 {
		t.Fatalf("redirect not answered: %v", got)
	}
}

func TestFetchSessionAddUpdateForget(t *testing.T) {
	c := newFetchSessions(10)
	a0, b0, c0 := fetchKey{topic: "a", partition: 0}, fetchKey{topic: "b", partition: 0}, fetchKey{topic: "c", partition: 0}
	id := openSession(t, c, 10, want("a", 0, 0), want("b", 0, 0))

	req := sessionRequest{wants: []fetchWant{want("c", 0, 7), want("a", 0, 42)}, forgotten: []fetchKey{b0}}
	got := incremental(t, c, id, 1, req, nil)
	if !slices.Equal(got, []fetchKey{c0}) {
		t.Fatalf("added c/0 must be answered, updated a/0 not: %v", got)
	}
	p := c.plan(sessionRequest{id: id, epoch: 2}, t0)
	if !slices.Equal(wantNames(p), []fetchKey{a0, c0}) {
		t.Fatalf("session holds %v", wantNames(p))
	}
	if p.wants[0].fetchOffset != 42 || p.wants[1].fetchOffset != 7 {
		t.Fatalf("fetch offsets not kept: %+v", p.wants)
	}
}

func TestFetchSessionRotatesPartitionsWithRecords(t *testing.T) {
	c := newFetchSessions(10)
	a0, a1, a2 := fetchKey{topic: "a", partition: 0}, fetchKey{topic: "a", partition: 1}, fetchKey{topic: "a", partition: 2}
	id := openSession(t, c, 10, want("a", 0, 0), want("a", 1, 0), want("a", 2, 0))
	incremental(t, c, id, 1, sessionRequest{}, map[fetchKey]fetchSent{a0: {highWatermark: 10, lastStable: 10, recordBytes: 1}})
	p := c.plan(sessionRequest{id: id, epoch: 2}, t0)
	if !slices.Equal(wantNames(p), []fetchKey{a1, a2, a0}) {
		t.Fatalf("order %v", wantNames(p))
	}
}

func TestFetchSessionEpochErrors(t *testing.T) {
	c := newFetchSessions(10)
	id := openSession(t, c, 10, want("a", 0, 0))
	if p := c.plan(sessionRequest{id: id, epoch: 2}, t0); p.errorCode != kerr.InvalidFetchSessionEpoch.Code || p.sessionID != 0 || p.wants != nil {
		t.Fatalf("skipped epoch: %+v", p)
	}
	if p := c.plan(sessionRequest{id: id + 1, epoch: 1}, t0); p.errorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("unknown id: %+v", p)
	}
	// Two requests racing on one epoch: the first wins, the second fails.
	first := c.plan(sessionRequest{id: id, epoch: 1}, t0)
	if second := c.plan(sessionRequest{id: id, epoch: 1}, t0); second.errorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("replayed epoch: %+v", second)
	}
	// A request that overtakes a slow one invalidates the slow response.
	c.plan(sessionRequest{id: id, epoch: 2}, t0)
	if _, code := c.finish(&first, []fetchSent{sent(10)}, t0); code != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("overtaken request finished with code %d", code)
	}
	// The session evicted while a request read it.
	p := c.plan(sessionRequest{id: id, epoch: 3}, t0)
	delete(c.byID, id)
	if _, code := c.finish(&p, []fetchSent{sent(10)}, t0); code != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("evicted session finished with code %d", code)
	}
	full := c.plan(sessionRequest{wants: []fetchWant{want("a", 0, 0)}}, t0)
	delete(c.byID, full.sessionID)
	if include, code := c.finish(&full, []fetchSent{sent(10)}, t0); code != 0 || full.sessionID != 0 || !include[0] {
		t.Fatalf("full fetch whose new session was evicted: code %d, session %d", code, full.sessionID)
	}
}

func TestFetchSessionCloseAndSessionless(t *testing.T) {
	c := newFetchSessions(10)
	id := openSession(t, c, 10, want("a", 0, 0))
	p := c.plan(sessionRequest{id: id, epoch: sessionEpochFinal, wants: []fetchWant{want("a", 0, 3)}}, t0)
	if p.errorCode != 0 || p.sessionID != 0 || p.incremental || len(p.wants) != 1 {
		t.Fatalf("close: %+v", p)
	}
	if p := c.plan(sessionRequest{id: id, epoch: 1}, t0); p.errorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("closed session still answers: %+v", p)
	}
	// A new full fetch naming an old id replaces that session.
	id2 := openSession(t, c, 10, want("a", 0, 0))
	p = c.plan(sessionRequest{id: id2, epoch: sessionEpochInitial, wants: []fetchWant{want("b", 0, 0)}}, t0)
	if p.sessionID == 0 || p.sessionID == id2 || len(c.byID) != 1 {
		t.Fatalf("reopen: %+v, %d sessions", p, len(c.byID))
	}
}

func TestFetchSessionCacheFullEvictsOnlyIdle(t *testing.T) {
	c := newFetchSessions(1)
	openSession(t, c, 10, want("a", 0, 0))
	if p := c.plan(sessionRequest{wants: []fetchWant{want("b", 0, 0)}}, t0.Add(time.Second)); p.sessionID != 0 || len(p.wants) != 1 {
		t.Fatalf("cache full of a busy session, yet: %+v", p)
	}
	if p := c.plan(sessionRequest{wants: []fetchWant{want("b", 0, 0)}}, t0.Add(sessionIdleEvict)); p.sessionID == 0 {
		t.Fatalf("idle session not evicted: %+v", p)
	}
	if len(c.byID) != 1 {
		t.Fatalf("%d sessions, want 1", len(c.byID))
	}
	none := newFetchSessions(0)
	if p := none.plan(sessionRequest{wants: []fetchWant{want("a", 0, 0)}}, t0); p.sessionID != 0 || p.errorCode != 0 {
		t.Fatalf("sessions disabled, yet: %+v", p)
	}
}

func TestFetchSessionEpochWraps(t *testing.T) {
	if nextSessionEpoch(math.MaxInt32) != 1 || nextSessionEpoch(1) != 2 {
		t.Fatal("epoch must wrap to 1")
	}
}

func TestDedupWantsKeepsFirstPositionLastValues(t *testing.T) {
	got := dedupWants([]fetchWant{want("a", 0, 1), want("b", 0, 2), want("a", 0, 3)})
	if len(got) != 2 || got[0].topic != "a" || got[0].fetchOffset != 3 || got[1].topic != "b" {
		t.Fatalf("%+v", got)
	}
}

package kafka

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Incremental fetch sessions (KIP-227), kept per broker and keyed by id.
//
// A client opens a session with a full fetch (id 0, epoch 0); the response
// carries the new id. Later requests send (id, epoch 1, 2, ...) and list only
// the partitions whose fetch offset or max bytes changed, plus the ones to
// forget; the broker reads every partition of the session and answers only
// those with records, an error, or a high watermark, last stable offset or
// log start offset other than last sent. Epoch -1 asks for a sessionless
// full fetch and closes the session named by id.
//
// This file is the pure bookkeeping: no I/O, the clock is an argument.

const (
	sessionEpochInitial = 0
	sessionEpochFinal   = -1
	// sessionIdleEvict is how long a session must go unused before a new
	// one may evict it when the cache is full (Kafka's
	// min.incremental.fetch.session.eviction.ms).
	sessionIdleEvict = 2 * time.Minute
)

type topicPartition struct {
	topic     string
	partition int32
}

// fetchKey names a partition in a fetch and in its session: by topic name
// before Fetch v13, by topic id from v13 on (KIP-516). With an id the name
// is empty here and looked up at each read, so that a topic deleted and
// created again under the same name is never read in the old one's place.
type fetchKey struct {
	topic     string
	topicID   [16]byte
	partition int32
}

// fetchWant is what a fetch asks of one partition.
type fetchWant struct {
	fetchKey
	fetchOffset        int64
	maxBytes           int32
	currentLeaderEpoch int32
	lastFetchedEpoch   int32 // a follower's, v12+; -1: none
}

// fetchSent is what a response says about one partition, as far as the
// session cares.
type fetchSent struct {
	errorCode      int16
	highWatermark  int64
	lastStable     int64
	logStartOffset int64
	recordBytes    int64
	preferred      bool // names a preferred read replica
}

// sessionPartition is one partition of a session: the request parameters
// in force and the offsets last sent.
type sessionPartition struct {
	want                                      fetchWant
	highWatermark, lastStable, logStartOffset int64
}

type fetchSession struct {
	id       int32
	topicIDs bool                // opened by Fetch v13+: keyed by topic id
	epoch    int32               // the epoch the next request must carry
	parts    []*sessionPartition // read and answer order
	byTP     map[fetchKey]*sessionPartition
	lastUsed time.Time
}

// fetchSessions is the broker's session cache. Safe for concurrent use.
type fetchSessions struct {
	mu   sync.Mutex
	max  int // 0: no sessions
	byID map[int32]*fetchSession
}

func newFetchSessions(max int) *fetchSessions {
	return &fetchSessions{max: max, byID: map[int32]*fetchSession{}}
}

// sessionRequest is the session part of a fetch request (v7+).
type sessionRequest struct {
	id, epoch int32
	wants     []fetchWant // in request order
	forgotten []fetchKey
	topicIDs  bool // v13+: partitions named by topic id
}

// fetchPlan says what to read for one request and how to answer.
type fetchPlan struct {
	errorCode   int16       // top-level error: read nothing, answer no partitions
	sessionID   int32       // the response's session id
	wants       []fetchWant // partitions to read, in answer order
	incremental bool        // answer only the partitions that changed
	session     *fetchSession
	epoch       int32 // session epoch once this request is done
}

// sessionless plans a full fetch that uses no session (v4-6, or epoch -1).
func sessionless(wants []fetchWant) fetchPlan {
	return fetchPlan{wants: dedupWants(wants)}
}

// plan matches a request against the cache, creating, updating or closing
// its session.
func (c *fetchSessions) plan(req sessionRequest, now time.Time) fetchPlan {
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.epoch == sessionEpochInitial || req.epoch == sessionEpochFinal {
		if req.id != 0 {
			delete(c.byID, req.id)
		}
		if req.epoch == sessionEpochFinal {
			return sessionless(req.wants)
		}
		p := sessionless(req.wants)
		if s := c.create(p.wants, req.topicIDs, now); s != nil {
			p.session, p.sessionID, p.epoch = s, s.id, s.epoch
		}
		return p
	}
	s := c.byID[req.id]
	switch {
	case s == nil:
		return fetchPlan{errorCode: kerr.FetchSessionIDNotFound.Code}
	case s.epoch != req.epoch:
		return fetchPlan{errorCode: kerr.InvalidFetchSessionEpoch.Code}
	case s.topicIDs != req.topicIDs:
		// Kafka's FetchManager: a session's partitions are keyed one way,
		// by name or by id, for its whole life.
		return fetchPlan{errorCode: kerr.FetchSessionTopicIDError.Code}
	}
	s.epoch = nextSessionEpoch(s.epoch)
	s.lastUsed = now
	for _, w := range req.wants {
		if sp := s.byTP[w.fetchKey]; sp != nil {
			sp.want = w
		} else {
			s.add(w)
		}
	}
	for _, tp := range req.forgotten {
		s.remove(tp)
	}
	p := fetchPlan{sessionID: s.id, incremental: true, session: s, epoch: s.epoch}
	for _, sp := range s.parts {
		p.wants = append(p.wants, sp.want)
	}
	return p
}

// create adds a session for wants, evicting the least recently used session
// idle for sessionIdleEvict if the cache is full; nil when there is no room.
func (c *fetchSessions) create(wants []fetchWant, topicIDs bool, now time.Time) *fetchSession {
	if c.max <= 0 {
		return nil
	}
	if len(c.byID) >= c.max {
		var lru *fetchSession
		for _, s := range c.byID {
			if lru == nil || s.lastUsed.Before(lru.lastUsed) {
				lru = s
			}
		}
		if now.Sub(lru.lastUsed) < sessionIdleEvict {
			return nil
		}
		delete(c.byID, lru.id)
	}
	s := &fetchSession{id: c.newID(), epoch: 1, topicIDs: topicIDs, byTP: map[fetchKey]*sessionPartition{}, lastUsed: now}
	for _, w := range wants {
		s.add(w)
	}
	c.byID[s.id] = s
	return s
}

// newID picks an unused positive id at random, so that a client holding an
// id from before a restart is unlikely to hit someone else's session.
func (c *fetchSessions) newID() int32 {
	for {
		id := rand.Int32N(math.MaxInt32) + 1
		if c.byID[id] == nil {
			return id
		}
	}
}

// finish records what the response sends and, for an incremental fetch,
// picks the partitions to answer: include[i] for plan.wants[i]. If the
// session changed hands while the request read (a long poll can outlast
// sessionIdleEvict), a full fetch is answered without a session
// (p.sessionID becomes 0) and an incremental one gets the top-level error
// returned (then no partitions are answered).
func (c *fetchSessions) finish(p *fetchPlan, sent []fetchSent, now time.Time) (include []bool, errorCode int16) {
	s := p.session
	if s == nil {
		return allIncluded(len(sent)), 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.byID[s.id] != s && p.incremental:
		return nil, kerr.FetchSessionIDNotFound.Code
	case s.epoch != p.epoch && p.incremental:
		return nil, kerr.InvalidFetchSessionEpoch.Code
	case c.byID[s.id] != s || s.epoch != p.epoch:
		p.session, p.sessionID = nil, 0
		return allIncluded(len(sent)), 0
	}
	s.lastUsed = now
	include = make([]bool, len(sent))
	var withRecords []*sessionPartition
	for i, w := range p.wants {
		sp := s.byTP[w.fetchKey]
		if sp == nil {
			panic(fmt.Sprintf("kafka: fetch session %d lost %s-%d while its epoch held", s.id, w.topic, w.partition))
		}
		include[i] = sp.update(sent[i]) || !p.incremental
		if sent[i].recordBytes > 0 {
			withRecords = append(withRecords, sp)
		}
	}
	// Partitions that returned records go to the back, so that when the
	// response size limit is reached the others get their turn next time.
	for _, sp := range withRecords {
		s.remove(sp.want.fetchKey)
		s.parts = append(s.parts, sp)
		s.byTP[sp.want.fetchKey] = sp
	}
	return include, 0
}

// update records what was sent and reports whether an incremental response
// must include the partition.
func (sp *sessionPartition) update(sent fetchSent) bool {
	changed := sent.recordBytes > 0 || sent.preferred ||
		sent.highWatermark != sp.highWatermark ||
		sent.lastStable != sp.lastStable ||
		sent.logStartOffset != sp.logStartOffset
	sp.highWatermark, sp.lastStable, sp.logStartOffset = sent.highWatermark, sent.lastStable, sent.logStartOffset
	if sent.errorCode != 0 {
		// Always answered; forget the offsets so that the partition is sent
		// again once the error clears.
		sp.highWatermark = -1
		return true
	}
	return changed
}

func (s *fetchSession) add(w fetchWant) {
	sp := &sessionPartition{want: w, highWatermark: -1, lastStable: -1, logStartOffset: -1}
	s.parts = append(s.parts, sp)
	s.byTP[w.fetchKey] = sp
}

func (s *fetchSession) remove(tp fetchKey) {
	sp := s.byTP[tp]
	if sp == nil {
		return
	}
	delete(s.byTP, tp)
	for i, x := range s.parts {
		if x == sp {
			s.parts = append(s.parts[:i], s.parts[i+1:]...)
			return
		}
	}
}

func allIncluded(n int) []bool {
	include := make([]bool, n)
	for i := range include {
		include[i] = true
	}
	return include
}

func nextSessionEpoch(e int32) int32 {
	if e == math.MaxInt32 {
		return 1
	}
	return e + 1
}

// dedupWants keeps the first position and the last parameters of a
// partition listed twice, as Kafka's request map does.
func dedupWants(wants []fetchWant) []fetchWant {
	at := make(map[fetchKey]int, len(wants))
	out := make([]fetchWant, 0, len(wants))
	for _, w := range wants {
		if i, ok := at[w.fetchKey]; ok {
			out[i] = w
			continue
		}
		at[w.fetchKey] = len(out)
		out = append(out, w)
	}
	return out
}

package kafka

// Metadata v0-12: brokers, cluster id (v2+), controller (v1+) and topics,
// by name or (v10+) by topic id.
//
// Which topics: v0 answers all of them for an empty list, v1+ for a null
// one. An unknown topic is created when the request allows it (always
// before v4, AllowAutoTopicCreation from v4) and the broker auto-creates
// topics; otherwise it is UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID by
// id). A topic whose partitions this broker leads but has not opened yet is
// LEADER_NOT_AVAILABLE, as Kafka answers right after an auto-create;
// clients retry.
//
// Auto-creates are rate-limited (a token bucket, Config.AutoCreateRatePerSec)
// and capped per request (Config.AutoCreatePerRequestMax): a topic past
// either is UNKNOWN_TOPIC_OR_PARTITION, which clients retry, so that one
// request naming 100,000 topics neither stalls the controller nor fills
// the broker.

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

func init() {
	register(&api{key: 3, minVersion: 0, maxVersion: 12, serve: serveMetadata})
}

// topicOperationsAll is the authorized-operations bit set of a topic with
// no authorizer: READ(3), WRITE(4), CREATE(5), DELETE(6), ALTER(7),
// DESCRIBE(8), DESCRIBE_CONFIGS(10), ALTER_CONFIGS(11).
const topicOperationsAll = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11

func serveMetadata(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	im := b.ctrl.Image()
	// Only live brokers, as Kafka lists them: a fenced one is down.
	for _, br := range im.LiveBrokers() {
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID = br.ID
		mb.Host, mb.Port = b.endpoint(r.conn.Listener, br.ID, br.Host, br.Port)
		if br.Rack != "" {
			mb.Rack = &br.Rack
		}
		resp.Brokers = append(resp.Brokers, mb)
	}
	resp.ClusterID = &im.ClusterID
	resp.ControllerID = im.ControllerID

	if req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0) {
		for _, t := range sortedTopics(im) {
			resp.Topics = append(resp.Topics, b.topicMetadata(im, t, req))
		}
		return resp, nil
	}
	autoCreate := b.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	created := 0
	for _, rt := range req.Topics {
		resp.Topics = append(resp.Topics, b.requestedTopicMetadata(rt, req, autoCreate, &created))
	}
	return resp, nil
}

func sortedTopics(im *quorum.Image) []*quorum.Topic {
	topics := slices.AppendSeq(make([]*quorum.Topic, 0, im.TopicCount()), im.Topics())
	slices.SortFunc(topics, func(a, b *quorum.Topic) int { return strings.Compare(a.Name, b.Name) })
	return topics
}

// requestedTopicMetadata answers one topic asked for by name or id,
// creating it if allowed; created counts the request's auto-creates.
func (b *Broker) requestedTopicMetadata(rt kmsg.MetadataRequestTopic, req *kmsg.MetadataRequest, autoCreate bool, created *int) kmsg.MetadataResponseTopic {
	im := b.ctrl.Image()
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic, mt.TopicID = rt.Topic, rt.TopicID
	if rt.Topic == nil {
		t := im.TopicByID(rt.TopicID)
		if t == nil {
			mt.ErrorCode = kerr.UnknownTopicID.Code
			return mt
		}
		return b.topicMetadata(im, t, req)
	}
	if t := im.Topic(*rt.Topic); t != nil {
		return b.topicMetadata(im, t, req)
	}
	if !autoCreate || !b.mayAutoCreate(created) {
		mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return mt
	}
	_, err := b.ctrl.CreateTopic(quorum.CreateTopic{Name: *rt.Topic, Partitions: -1, ReplicationFactor: -1},
		b.cfg.DefaultPartitions, b.cfg.DefaultReplicationFactor, false)
	if err != nil && !errors.Is(err, quorum.ErrTopicExists) { // a concurrent create is fine
		mt.ErrorCode = b.errorCode(err)
		return mt
	}
	im = b.ctrl.Image()
	if t := im.Topic(*rt.Topic); t != nil {
		return b.topicMetadata(im, t, req)
	}
	mt.ErrorCode = kerr.LeaderNotAvailable.Code // deleted again meanwhile
	return mt
}

// mayAutoCreate reports whether one more topic may be auto-created by a
// request that has created *created, counting it if so.
func (b *Broker) mayAutoCreate(created *int) bool {
	if most := b.cfg.AutoCreatePerRequestMax; most > 0 && *created >= most {
		return false
	}
	if !b.autoCreate.take() {
		return false
	}
	*created++
	return true
}

// tokenBucket allows rate events a second with bursts of rate; rate 0
// allows all.
type tokenBucket struct {
	rate float64
	now  func() time.Time

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newTokenBucket(rate int, now func() time.Time) *tokenBucket {
	return &tokenBucket{rate: float64(rate), now: now, tokens: float64(rate), last: now()}
}

// take takes a token if there is one.
func (tb *tokenBucket) take() bool {
	if tb.rate == 0 {
		return true
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	now := tb.now()
	if elapsed := now.Sub(tb.last); elapsed > 0 {
		tb.tokens = min(tb.rate, tb.tokens+elapsed.Seconds()*tb.rate)
		tb.last = now
	}
	if tb.tokens < 1 {
		return false
	}
	tb.tokens--
	return true
}

// topicMetadata describes a topic of the image.
func (b *Broker) topicMetadata(im *quorum.Image, t *quorum.Topic, req *kmsg.MetadataRequest) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic, mt.TopicID, mt.IsInternal = &t.Name, t.ID, t.Internal
	if req.IncludeTopicAuthorizedOperations {
		mt.AuthorizedOperations = topicOperationsAll
	}
	for _, p := range t.Partitions {
		if p.Leader == b.cfg.NodeID && b.parts.Partition(t.Name, p.ID) == nil {
			mt.ErrorCode = kerr.LeaderNotAvailable.Code
			mt.Partitions = nil
			return mt
		}
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition, mp.Leader, mp.LeaderEpoch = p.ID, p.Leader, p.LeaderEpoch
		mp.Replicas, mp.ISR = p.Replicas, p.ISR
		mp.OfflineReplicas = offlineReplicas(im, p.Replicas)
		if p.Leader < 0 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// offlineReplicas are the replicas on brokers the image does not know.
func offlineReplicas(im *quorum.Image, replicas []int32) []int32 {
	offline := []int32{}
	for _, id := range replicas {
		if _, ok := im.Broker(id); !ok {
			offline = append(offline, id)
		}
	}
	return offline
}

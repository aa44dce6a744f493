package kafka

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/kafkatest"
	"github.com/riffle/riffle/netio"
	"github.com/riffle/riffle/segment"
)

// panicCounter counts the handler panics ServeFrame recovers from (it logs
// them and closes the connection, so a client would only see a close).
type panicCounter struct{ n atomic.Int64 }

func (p *panicCounter) Enabled(context.Context, slog.Level) bool { return true }
func (p *panicCounter) WithAttrs([]slog.Attr) slog.Handler       { return p }
func (p *panicCounter) WithGroup(string) slog.Handler            { return p }
func (p *panicCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "kafka: handler panic" {
		p.n.Add(1)
	}
	return nil
}

// FuzzServeFrame feeds mutated request frames of every served API to a
// broker on a real stack (data dir, controller, replicas): whatever a
// client sends, no handler may panic.
//
// Frames whose tag counts exceed their bytes (which kmsg v1.15.0 would
// loop on for seconds) are refused by the wire check first; FuzzDecodeBody
// bounds the CPU a body may cost.
func FuzzServeFrame(f *testing.F) {
	s := newTopicStack(f, Config{}, 2)
	panics := &panicCounter{}
	// Waits are capped at 0 so a fuzzed max_wait cannot stall the fuzzer.
	b := New(Config{NodeID: stackNodeID, AutoCreateTopics: true, DefaultPartitions: 1, DefaultReplicationFactor: 1,
		CompressionValidation: true, Logger: slog.New(panics)}, s.ctrl, s)
	batch := segment.EncodeBatch(nil, segment.BatchSpec{BaseTimestamp: 1, ProducerID: 7, ProducerEpoch: 0, BaseSequence: 0},
		[]segment.Record{{Key: []byte("k"), Value: []byte("v")}})
	for _, req := range fuzzSeedRequests(s.topic, batch) {
		f.Add(kafkatest.Frame(req, 1))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		before := panics.n.Load()
		pieces, _ := b.ServeFrame(context.Background(), &netio.Conn{}, frame)
		for _, p := range pieces {
			if p.Release != nil {
				p.Release()
			}
		}
		if panics.n.Load() != before {
			t.Fatalf("handler panicked on frame %x", frame)
		}
	})
}

// fuzzSeedRequests is one well-formed request of each API the fuzzer
// starts from, at the newest served version.
func fuzzSeedRequests(topic string, batch []byte) []kmsg.Request {
	produce := kmsg.NewPtrProduceRequest()
	produce.Acks, produce.TimeoutMillis = -1, 1000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = topic
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = batch
	pt.Partitions = append(pt.Partitions, pp)
	produce.Topics = append(produce.Topics, pt)

	fetch := kmsg.NewPtrFetchRequest()
	fetch.MaxBytes, fetch.MinBytes, fetch.ReplicaID = 1<<20, 1, -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = 1<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)

	list := kmsg.NewPtrListOffsetsRequest()
	list.ReplicaID = -1
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp, lp.CurrentLeaderEpoch = -1, -1
	lt.Partitions = append(lt.Partitions, lp)
	list.Topics = append(list.Topics, lt)

	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("auto-" + topic)
	meta.Topics, meta.AllowAutoTopicCreation = append(meta.Topics, mt), true

	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "created", 2, 1
	cc := kmsg.NewCreateTopicsRequestTopicConfig()
	cc.Name, cc.Value = "retention.ms", kmsg.StringPtr("1000")
	ct.Configs = append(ct.Configs, cc)
	create.Topics = append(create.Topics, ct)

	parts := kmsg.NewPtrCreatePartitionsRequest()
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic, cpt.Count = topic, 3
	parts.Topics = append(parts.Topics, cpt)

	describe := kmsg.NewPtrDescribeConfigsRequest()
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	describe.Resources = append(describe.Resources, dr)

	alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
	ar := kmsg.NewIncrementalAlterConfigsRequestResource()
	ar.ResourceType, ar.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	ac := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	ac.Name, ac.Value = "cleanup.policy", kmsg.StringPtr("delete")
	ac.Op = kmsg.IncrementalAlterConfigOpAppend
	ar.Configs = append(ar.Configs, ac)
	alter.Resources = append(alter.Resources, ar)

	epoch := kmsg.NewPtrOffsetForLeaderEpochRequest()
	epoch.ReplicaID = -1
	et := kmsg.NewOffsetForLeaderEpochRequestTopic()
	et.Topic = topic
	ep := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	ep.CurrentLeaderEpoch, ep.LeaderEpoch = -1, 0
	et.Partitions = append(et.Partitions, ep)
	epoch.Topics = append(epoch.Topics, et)

	reqs := []kmsg.Request{produce, fetch, list, meta, create, parts, describe, alter, epoch,
		kmsg.NewPtrInitProducerIDRequest(), kmsg.NewPtrApiVersionsRequest()}
	for _, r := range reqs {
		if a := apis[r.Key()]; a != nil {
			r.SetVersion(a.maxVersion)
		}
	}
	return reqs
}

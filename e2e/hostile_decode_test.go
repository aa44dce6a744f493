package e2e

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
	"github.com/riffle/riffle/internal/kafkatest"
)

// markerTag and its payload are set in the tag section a hostile frame
// inflates; markedFrame swaps the whole section for a count of 2^32-1.
const markerTag = 99

var markerSection = []byte{1, markerTag, 4, 'M', 'A', 'R', 'K'}

func mark(tags *kmsg.Tags) { tags.Set(markerTag, []byte("MARK")) }

// markedFrame encodes req at version and replaces its marked tag section
// with a tag count of 2^32-1: kmsg v1.15.0 would loop that many times.
func markedFrame(t *testing.T, req kmsg.Request, version int16) []byte {
	t.Helper()
	req.SetVersion(version)
	frame := kafkatest.Frame(req, 1)
	if bytes.Count(frame, markerSection) != 1 {
		t.Fatalf("%s v%d: no single marked tag section in %x", kmsg.NameForKey(req.Key()), version, frame)
	}
	return kafkatest.Sized(bytes.Replace(frame, markerSection, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 1))
}

// TestHostileTagCountsCostNothing sends frames whose tag-section counts
// exceed their bytes, which cost franz-go's decoder up to a minute of CPU
// each, on several connections at once: each is closed at once, the
// broker's CPU barely moves and a well-behaved client beside them keeps
// being served.
func TestHostileTagCountsCostNothing(t *testing.T) {
	b := brokertest.Start(t)
	by := startBystander(t, b.Addr())
	by.waitProgress(t, 10, 30*time.Second)

	metadata := func() kmsg.Request {
		req := kmsg.NewPtrMetadataRequest()
		topic := kmsg.NewMetadataRequestTopic()
		topic.Topic = kmsg.StringPtr("t")
		mark(&topic.UnknownTags)
		req.Topics = append(req.Topics, topic)
		return req
	}
	produce := func() kmsg.Request {
		req := produceRequest(by.topic, []byte("opaque"))
		mark(&req.Topics[0].Partitions[0].UnknownTags)
		return req
	}
	fetch := func() *kmsg.FetchRequest {
		req := kmsg.NewPtrFetchRequest()
		topic := kmsg.NewFetchRequestTopic()
		topic.Topic = by.topic
		topic.Partitions = append(topic.Partitions, kmsg.NewFetchRequestTopicPartition())
		req.Topics = append(req.Topics, topic)
		return req
	}
	// (Not in a Fetch partition: kmsg knows tag 0 there, and an exhausted
	// input reads as tag 0 of size 0, which fails its decode and ends the
	// loop.)
	fetchTopic := fetch()
	mark(&fetchTopic.Topics[0].UnknownTags)
	// Fetch's tag 1 is a ReplicaState (replica id, epoch, tag section)
	// that kmsg decodes whatever the version; the count inside it is read
	// from the tag's own bytes.
	fetchReplicaState := fetch()
	fetchReplicaState.UnknownTags.Set(1, []byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff, 0x0f})

	cases := []struct {
		name  string
		frame []byte
	}{
		{"the 31-byte ApiVersions v3 frame", []byte("\x00\x00\x00\x1b\x00\x12\x00\x03\x00\x00\x00\x01\x00\x07hostile\x00\x02x\x021\xff\xff\xff\xff\x0f")},
		{"Metadata v12, in a topic", markedFrame(t, metadata(), 12)},
		{"Produce v9, in a partition", markedFrame(t, produce(), 9)},
		{"Fetch v12, in a topic", markedFrame(t, fetchTopic, 12)},
		{"Fetch v12, in the ReplicaState tag", kafkatest.Sized(func() []byte {
			fetchReplicaState.SetVersion(12)
			return kafkatest.Frame(fetchReplicaState, 1)
		}())},
	}
	const connsPerCase = 3
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, start := brokerUsage(t, b), time.Now()
			conns := make([]net.Conn, connsPerCase)
			for i := range conns {
				conns[i] = dial(t, b.Addr())
				if _, err := conns[i].Write(c.frame); err != nil {
					t.Fatal(err)
				}
			}
			for _, conn := range conns {
				expectClosed(t, conn, c.name)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("the hostile connections were closed after %v", took)
			}
			grew := brokerUsage(t, b).cpu - before.cpu
			t.Logf("broker CPU grew by %v", grew)
			if grew > 2*time.Second {
				t.Errorf("broker CPU grew by %v over %d hostile frames", grew, connsPerCase)
			}
		})
	}
	expectServing(t, b.Addr())
	by.check(t, 3*time.Second)
}

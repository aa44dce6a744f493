package e2e

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
	"github.com/riffle/riffle/internal/kafkatest"
	"github.com/riffle/riffle/kafkawire"
)

// rawExchange sends req at its version on conn and decodes the answer.
func rawExchange[R kmsg.Response](t *testing.T, conn net.Conn, req kmsg.Request) R {
	t.Helper()
	raw, err := kafkatest.RoundTrip(conn, kafkatest.Frame(req, 11), ioTimeout)
	if err != nil {
		t.Fatalf("%s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	resp, err := kafkawire.DecodeResponse(req, 11, raw)
	if err != nil {
		t.Fatal(err)
	}
	return resp.(R)
}

// TestOldClientVersions speaks as a 0.8-era client (Burrow 1.2 through
// sarama's defaults): Metadata v0, ListOffsets v0, FindCoordinator v0,
// OffsetCommit v0-1 and OffsetFetch v0, all on one connection that must
// stay open.
func TestOldClientVersions(t *testing.T) {
	b := brokertest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "old", 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 3 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "old", Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	conn := dial(t, b.Addr())

	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(0)
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("old")}}
	if r := rawExchange[*kmsg.MetadataResponse](t, conn, md); len(r.Topics) != 1 || r.Topics[0].ErrorCode != 0 || len(r.Brokers) != 1 {
		t.Fatalf("Metadata v0: %+v", r)
	}

	for _, c := range []struct {
		timestamp int64
		want      int64
	}{{-1, 3}, {-2, 0}} {
		lo := kmsg.NewPtrListOffsetsRequest()
		lo.SetVersion(0)
		lo.ReplicaID = -1
		lo.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: "old", Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: 0, Timestamp: c.timestamp, MaxNumOffsets: 1}}}}
		p := rawExchange[*kmsg.ListOffsetsResponse](t, conn, lo).Topics[0].Partitions[0]
		if p.ErrorCode != 0 || len(p.OldStyleOffsets) != 1 || p.OldStyleOffsets[0] != c.want {
			t.Errorf("ListOffsets v0 at %d: %+v, want [%d]", c.timestamp, p, c.want)
		}
	}

	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.SetVersion(0)
	fc.CoordinatorKey = "burrow"
	if r := rawExchange[*kmsg.FindCoordinatorResponse](t, conn, fc); r.ErrorCode != 0 || r.NodeID != 1 {
		t.Fatalf("FindCoordinator v0: %+v", r)
	}
	for v, offset := range []int64{1, 2} {
		oc := kmsg.NewPtrOffsetCommitRequest()
		oc.SetVersion(int16(v))
		oc.Group = "burrow"
		oc.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "old", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: offset, Timestamp: -1}}}}
		p := rawExchange[*kmsg.OffsetCommitResponse](t, conn, oc).Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			t.Fatalf("OffsetCommit v%d: %v", v, kerr.ErrorForCode(p.ErrorCode))
		}
		of := kmsg.NewPtrOffsetFetchRequest()
		of.SetVersion(0)
		of.Group = "burrow"
		of.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "old", Partitions: []int32{0}}}
		if fp := rawExchange[*kmsg.OffsetFetchResponse](t, conn, of).Topics[0].Partitions[0]; fp.ErrorCode != 0 || fp.Offset != offset {
			t.Fatalf("OffsetFetch v0 after OffsetCommit v%d of %d: %+v", v, offset, fp)
		}
	}
}

// TestUnservedKeyAnswered: a client that skips ApiVersions and asks for an
// API Riffle does not serve (UpdateFeatures) gets UNSUPPORTED_VERSION,
// and its connection stays open.
func TestUnservedKeyAnswered(t *testing.T) {
	b := brokertest.Start(t)
	conn := dial(t, b.Addr())
	features := kmsg.NewPtrUpdateFeaturesRequest()
	features.SetVersion(1)
	if r := rawExchange[*kmsg.UpdateFeaturesResponse](t, conn, features); r.ErrorCode != kerr.UnsupportedVersion.Code || r.ErrorMessage == nil {
		t.Fatalf("UpdateFeatures: %+v", r)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	if r := rawExchange[*kmsg.MetadataResponse](t, conn, md); len(r.Brokers) != 1 {
		t.Fatalf("Metadata after UpdateFeatures: %+v", r)
	}
}

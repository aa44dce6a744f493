package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
	"github.com/riffle/riffle/internal/kafkatest"
	"github.com/riffle/riffle/kafkawire"
	"github.com/riffle/riffle/segment"
)

// Bounds for one hostile case, generous for a loaded two-core machine yet
// far below what the attacks cost an unprotected broker.
const (
	hostileCPUMax    = 10 * time.Second
	hostileRSSMax    = 512 << 20
	bystanderWorstOK = 5 * time.Second
)

// hostileCase runs attack against b while a bystander produces and
// consumes beside it, then checks that the bystander was served and that
// the broker's CPU and memory stayed bounded.
func hostileCase(t *testing.T, b *brokertest.Broker, attack func(t *testing.T)) {
	t.Helper()
	by := startBystander(t, b.Addr())
	by.waitProgress(t, 5, 30*time.Second)
	before := brokerUsage(t, b)
	attack(t)
	after := brokerUsage(t, b)
	t.Logf("broker: %v CPU, RSS %d MiB -> %d MiB", after.cpu-before.cpu, before.rssBytes>>20, after.rssBytes>>20)
	if spent := after.cpu - before.cpu; spent > hostileCPUMax {
		t.Errorf("the attack cost the broker %v of CPU, more than %v", spent, hostileCPUMax)
	}
	if after.rssBytes > hostileRSSMax && !brokertest.RaceBuilt(t) {
		t.Errorf("broker RSS %d MiB after the attack, more than %d MiB", after.rssBytes>>20, hostileRSSMax>>20)
	}
	by.waitProgress(t, by.consumedNow()+5, 30*time.Second)
	by.check(t, bystanderWorstOK)
}

// roundTrip sends req on a fresh connection and decodes the response.
func roundTrip(t *testing.T, addr string, req kmsg.Request) kmsg.Response {
	t.Helper()
	conn := dial(t, addr)
	raw, err := kafkatest.RoundTrip(conn, kafkatest.Frame(req, 7), 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := kafkawire.DecodeResponse(req, 7, raw)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// gzipBomb is a batch whose records section is 256 MiB of zeros, gzipped
// to a few hundred KiB: small enough to pass max.message.bytes.
func gzipBomb(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for range 256 {
		if _, err := zw.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	b := segment.EncodeBatch(nil, segment.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]segment.Record{{Value: []byte("x")}})
	b = append(b[:segment.BatchHeaderSize:segment.BatchHeaderSize], buf.Bytes()...)
	be := binary.BigEndian
	be.PutUint32(b[8:], uint32(len(b)-12))
	be.PutUint16(b[21:], be.Uint16(b[21:])|1) // gzip
	be.PutUint32(b[23:], 1<<20-1)             // last offset delta
	be.PutUint32(b[57:], 1<<20)               // record count
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// TestHostileClients runs the catalogue of bad input against one broker,
// each case beside a well-behaved client: the broker answers with the
// right error or closes the connection, keeps serving the bystander, and
// spends bounded CPU and memory.
func TestHostileClients(t *testing.T) {
	b := brokertest.Start(t, "--set", "network.request_timeout_ms=2000", "--set", "network.max_connections=64")
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "hostile", 1)

	t.Run("zip bomb", func(t *testing.T) {
		hostileCase(t, b, func(t *testing.T) {
			code := produceErrorCode(t, b.Addr(), produceRequest("hostile", gzipBomb(t)))
			if code == 0 {
				t.Fatal("a zip bomb was accepted")
			}
			t.Logf("zip bomb answered with %v", kerr.ErrorForCode(code))
		})
	})

	t.Run("100k partitions in one produce", func(t *testing.T) {
		hostileCase(t, b, func(t *testing.T) {
			batch := segment.EncodeBatch(nil, segment.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
				[]segment.Record{{Value: []byte("v")}})
			req := produceRequest("hostile", batch)
			req.Acks = 1
			parts := make([]kmsg.ProduceRequestTopicPartition, 100_000)
			for i := range parts {
				parts[i] = kmsg.NewProduceRequestTopicPartition()
				parts[i].Partition = int32(i)
				parts[i].Records = batch
			}
			req.Topics[0].Partitions = parts
			resp := roundTrip(t, b.Addr(), req).(*kmsg.ProduceResponse)
			var unknown int
			for _, p := range resp.Topics[0].Partitions {
				if p.ErrorCode == kerr.UnknownTopicOrPartition.Code {
					unknown++
				}
			}
			if unknown != len(parts)-1 {
				t.Fatalf("%d of %d nonexistent partitions answered UNKNOWN_TOPIC_OR_PARTITION", unknown, len(parts)-1)
			}
		})
	})

	t.Run("bad topic names", func(t *testing.T) {
		hostileCase(t, b, func(t *testing.T) {
			names := []string{"", ".", "..", "../escape", "a/b", "a\x00b", strings.Repeat("x", 250), "sp ace"}
			req := kmsg.NewPtrCreateTopicsRequest()
			req.SetVersion(7)
			req.TimeoutMillis = 10_000
			for _, name := range names {
				rt := kmsg.NewCreateTopicsRequestTopic()
				rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 1, 1
				req.Topics = append(req.Topics, rt)
			}
			resp := roundTrip(t, b.Addr(), req).(*kmsg.CreateTopicsResponse)
			for _, rt := range resp.Topics {
				if rt.ErrorCode != kerr.InvalidTopicException.Code {
					t.Errorf("create topic %q: %v, want INVALID_TOPIC_EXCEPTION", rt.Topic, kerr.ErrorForCode(rt.ErrorCode))
				}
			}
			if code := produceErrorCode(t, b.Addr(), produceRequest("../escape", segment.EncodeBatch(nil,
				segment.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, []segment.Record{{Value: []byte("v")}}))); code == 0 {
				t.Error("produce to ../escape succeeded")
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(b.DataDir()), "escape-0")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a log directory escaped the data dir: %v", err)
			}
		})
	})

	t.Run("slow loris", func(t *testing.T) {
		hostileCase(t, b, func(t *testing.T) {
			conn := dial(t, b.Addr())
			frame := kafkatest.Sized(kafkatest.Frame(kmsg.NewPtrMetadataRequest(), 1))
			start := time.Now()
			// One byte every 100 ms: the frame would take seconds to arrive;
			// the broker closes it at network.request_timeout_ms (2 s).
			for i := 0; i < len(frame)-1; i++ {
				if _, err := conn.Write(frame[i : i+1]); err != nil {
					break // closed by the broker
				}
				if time.Since(start) > 30*time.Second {
					t.Fatal("the broker kept a slow frame open for 30 s")
				}
				select {
				case <-time.After(100 * time.Millisecond):
				case <-t.Context().Done():
					return
				}
			}
			expectClosed(t, conn, "slow loris")
			if took := time.Since(start); took < 1500*time.Millisecond {
				t.Errorf("closed after %v, before the 2 s request timeout", took)
			}
		})
	})

	t.Run("idle connections up to the limit", func(t *testing.T) {
		hostileCase(t, b, func(t *testing.T) {
			var refused bool
			for i := 0; i < 100 && !refused; i++ {
				conn := dial(t, b.Addr())
				// A connection over the limit is closed at once; one within
				// it stays open and idle.
				if err := conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
					t.Fatal(err)
				}
				_, err := conn.Read(make([]byte, 1))
				var ne interface{ Timeout() bool }
				refused = !(errors.As(err, &ne) && ne.Timeout())
			}
			if !refused {
				t.Fatal("100 idle connections accepted with network.max_connections=64")
			}
		})
	})
}

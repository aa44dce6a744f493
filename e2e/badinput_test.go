package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
	"github.com/riffle/riffle/internal/kafkatest"
	"github.com/riffle/riffle/kafkawire"
	"github.com/riffle/riffle/segment"
)

const ioTimeout = 10 * time.Second

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// expectClosed waits for the broker to close conn.
func expectClosed(t *testing.T, conn net.Conn, what string) {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	for {
		_, err := conn.Read(buf)
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			return
		}
		if err != nil {
			t.Fatalf("%s: want the broker to close the connection, got %v", what, err)
		}
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// expectServing checks that a fresh connection still gets answers.
func expectServing(t *testing.T, addr string) {
	t.Helper()
	conn := dial(t, addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "e2e", "1"
	raw, err := kafkatest.RoundTrip(conn, kafkatest.Frame(req, 1), ioTimeout)
	if err != nil {
		t.Fatalf("broker stopped serving: %v", err)
	}
	if _, err := kafkawire.DecodeResponse(req, 1, raw); err != nil {
		t.Fatal(err)
	}
}

func produceRequest(topic string, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func produceErrorCode(t *testing.T, addr string, req *kmsg.ProduceRequest) int16 {
	t.Helper()
	conn := dial(t, addr)
	raw, err := kafkatest.RoundTrip(conn, kafkatest.Frame(req, 5), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := kafkawire.DecodeResponse(req, 5, raw)
	if err != nil {
		t.Fatal(err)
	}
	return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
}

func TestBadInput(t *testing.T) {
	b := brokertest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "bad-input", 1)
	batch := func(valueBytes int) []byte {
		return segment.EncodeBatch(nil, segment.BatchSpec{BaseTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
			[]segment.Record{{Value: make([]byte, valueBytes)}})
	}

	closing := map[string][]byte{
		"huge length prefix": {0x7f, 0xff, 0xff, 0xff, 0, 18},
		"negative length":    {0xff, 0xff, 0xff, 0xf0, 0, 18},
		"garbage":            kafkatest.Sized([]byte("GET / HTTP/1.1\r\nHost: riffle\r\n\r\n")),
		"unknown api key":    kafkatest.Sized([]byte{0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0xff, 0xff}),
		"unsupported version": func() []byte {
			req := kmsg.NewPtrMetadataRequest()
			frame := kafkatest.Frame(req, 1)
			binary.BigEndian.PutUint16(frame[2:], 99)
			return kafkatest.Sized(frame)
		}(),
		"array count beyond the frame": func() []byte {
			req := produceRequest("bad-input", batch(10))
			req.SetVersion(3)
			frame := kafkatest.Frame(req, 1)
			// Produce v3: header (2+2+4+2+len(client id)), transactional id (2), acks (2), timeout (4), then the int32 topic count.
			countAt := 2 + 2 + 4 + 2 + len("kafkatest") + 2 + 2 + 4
			binary.BigEndian.PutUint32(frame[countAt:], 0x7fffffff)
			return kafkatest.Sized(frame)
		}(),
	}
	for name, bytes := range closing {
		t.Run(name, func(t *testing.T) {
			conn := dial(t, b.Addr())
			if _, err := conn.Write(bytes); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, conn, name)
			expectServing(t, b.Addr())
		})
	}

	t.Run("truncated frame", func(t *testing.T) {
		conn := dial(t, b.Addr())
		frame := kafkatest.Sized(kafkatest.Frame(kmsg.NewPtrMetadataRequest(), 1))
		if _, err := conn.Write(frame[:len(frame)-3]); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		expectServing(t, b.Addr())
	})

	t.Run("ApiVersions unsupported version answers with the key list", func(t *testing.T) {
		conn := dial(t, b.Addr())
		frame := kafkatest.Frame(kmsg.NewPtrApiVersionsRequest(), 3)
		binary.BigEndian.PutUint16(frame[2:], 77)
		raw, err := kafkatest.RoundTrip(conn, frame, ioTimeout)
		if err != nil {
			t.Fatal(err)
		}
		v0 := kmsg.NewPtrApiVersionsRequest()
		v0.SetVersion(0)
		resp, err := kafkawire.DecodeResponse(v0, 3, raw)
		if err != nil {
			t.Fatal(err)
		}
		if r := resp.(*kmsg.ApiVersionsResponse); r.ErrorCode != kerr.UnsupportedVersion.Code || len(r.ApiKeys) == 0 {
			t.Fatalf("error %d, %d keys", r.ErrorCode, len(r.ApiKeys))
		}
	})

	t.Run("crc mismatch", func(t *testing.T) {
		bad := batch(100)
		bad[len(bad)-1] ^= 0xff
		if code := produceErrorCode(t, b.Addr(), produceRequest("bad-input", bad)); code != kerr.CorruptMessage.Code {
			t.Fatalf("error code %d, want CORRUPT_MESSAGE", code)
		}
	})

	t.Run("negative record count", func(t *testing.T) {
		bad := batch(10)
		binary.BigEndian.PutUint32(bad[57:], 0xffffffff) // recordsCount -1
		binary.BigEndian.PutUint32(bad[17:], crc32.Checksum(bad[21:], crc32.MakeTable(crc32.Castagnoli)))
		if code := produceErrorCode(t, b.Addr(), produceRequest("bad-input", bad)); code != kerr.CorruptMessage.Code {
			t.Fatalf("error code %d, want CORRUPT_MESSAGE", code)
		}
	})

	t.Run("oversized batch", func(t *testing.T) {
		if code := produceErrorCode(t, b.Addr(), produceRequest("bad-input", batch(2<<20))); code != kerr.MessageTooLarge.Code {
			t.Fatalf("error code %d, want MESSAGE_TOO_LARGE", code)
		}
	})

	t.Run("unknown topic", func(t *testing.T) {
		if code := produceErrorCode(t, b.Addr(), produceRequest("no-such-topic", batch(10))); code != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("error code %d, want UNKNOWN_TOPIC_OR_PARTITION", code)
		}
	})

	// After all of it, a real client still round-trips.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, testRecord("bad-input", 1, time.Now())).FirstErr(); err != nil {
		t.Fatalf("produce after bad input: %v", err)
	}
}

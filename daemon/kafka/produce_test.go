package kafka

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/segment"
	"github.com/riffle/riffle/segment/codec"
)

// produceReq builds a Produce of one batch per partition to topic.
func produceReq(version, acks int16, topic string, batches map[int32][]byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(version)
	req.Acks, req.TimeoutMillis = acks, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	for p := int32(0); p < 16; p++ {
		if b, ok := batches[p]; ok {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition, rp.Records = p, b
			rt.Partitions = append(rt.Partitions, rp)
		}
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// produceOne produces batch to partition 0 and returns its partition answer.
func (s *brokerStack) produceOne(version, acks int16, topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
	s.t.Helper()
	resp := roundTrip[*kmsg.ProduceResponse](s.t, s.b, produceReq(version, acks, topic, map[int32][]byte{0: batch}))
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		s.t.Fatalf("response %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

func plainBatch(n int) []byte {
	return segment.EncodeBatch(nil, segment.BatchSpec{BaseTimestamp: 1000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		testRecords(n))
}

func idempotentBatch(pid int64, epoch int16, seq int32, n int) []byte {
	return segment.EncodeBatch(nil, segment.BatchSpec{BaseTimestamp: 1000, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq},
		testRecords(n))
}

func TestProduceAppends(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	s.createTopic("t", 2, nil)
	for v := int16(3); v <= 11; v++ {
		want := s.leo("t", 0)
		sp := s.produceOne(v, -1, "t", plainBatch(3))
		if sp.ErrorCode != 0 || sp.BaseOffset != want || s.leo("t", 0) != want+3 {
			t.Fatalf("v%d: %+v, LEO %d, want base %d", v, sp, s.leo("t", 0), want)
		}
		if sp.LogAppendTime != -1 || (v >= 5 && sp.LogStartOffset != 0) {
			t.Errorf("v%d: log append time %d, log start %d", v, sp.LogAppendTime, sp.LogStartOffset)
		}
	}
	// Several partitions in one request, every codec.
	for _, codec := range allCodecs {
		resp := roundTrip[*kmsg.ProduceResponse](t, s.b, produceReq(9, 1, "t", map[int32][]byte{
			0: compressedBatch(t, codec, testRecords(5)), 1: compressedBatch(t, codec, testRecords(2))}))
		for _, sp := range resp.Topics[0].Partitions {
			if sp.ErrorCode != 0 {
				t.Errorf("codec %d partition %d: %v", codec, sp.Partition, kerr.ErrorForCode(sp.ErrorCode))
			}
		}
	}
	if got := s.leo("t", 1); got != int64(2*len(allCodecs)) {
		t.Errorf("partition 1 LEO %d", got)
	}
}

func TestProduceValidation(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	s.createTopic("t", 1, nil)
	s.createTopic("small", 1, map[string]string{"max.message.bytes": "200"})
	twoBatches := append(plainBatch(1), plainBatch(1)...)
	badCRC := plainBatch(2)
	badCRC[len(badCRC)-1] ^= 1
	magic1 := plainBatch(1)
	magic1[16] = 1
	baseOffset := plainBatch(1)
	binary.BigEndian.PutUint64(baseOffset, 5)
	control := segment.EncodeBatch(nil, segment.BatchSpec{ProducerID: 7, ProducerEpoch: 0, BaseSequence: 0, Attributes: segment.AttrControl},
		[]segment.Record{{Key: []byte{0, 0, 0, 0}}})
	transactional := segment.EncodeBatch(nil, segment.BatchSpec{ProducerID: 7, ProducerEpoch: 0, BaseSequence: 0, Attributes: segment.AttrTransactional},
		testRecords(1))
	// Two records with offset delta 0: the second is wrong.
	badDelta := rawBatch(codec.None, 2, append(recordsOf(testRecords(1)), recordsOf(testRecords(1))...))
	for _, tc := range []struct {
		name    string
		version int16
		acks    int16
		topic   string
		batch   []byte
		code    int16
	}{
		{"produce v2", 2, 1, "t", plainBatch(1), kerr.UnsupportedForMessageFormat.Code},
		{"acks 2", 9, 2, "t", plainBatch(1), kerr.InvalidRequiredAcks.Code},
		{"unknown topic", 9, 1, "nope", plainBatch(1), kerr.UnknownTopicOrPartition.Code},
		{"no records", 9, 1, "t", nil, kerr.InvalidRecord.Code},
		{"two batches", 9, 1, "t", twoBatches, kerr.InvalidRecord.Code},
		{"trailing bytes", 9, 1, "t", append(plainBatch(1), 1, 2, 3), kerr.InvalidRecord.Code},
		{"short", 9, 1, "t", plainBatch(1)[:40], kerr.CorruptMessage.Code},
		{"bad crc", 9, 1, "t", badCRC, kerr.CorruptMessage.Code},
		{"magic 1", 9, 1, "t", magic1, kerr.InvalidRecord.Code},
		{"too large", 9, 1, "small", plainBatch(10), kerr.MessageTooLarge.Code},
		{"base offset", 9, 1, "t", baseOffset, kerr.InvalidRecord.Code},
		{"control", 9, 1, "t", control, kerr.InvalidRecord.Code},
		{"transactional", 9, 1, "t", transactional, kerr.InvalidTxnState.Code},
		{"no sequence", 9, 1, "t", idempotentBatch(7, 0, -1, 1), kerr.InvalidRecord.Code},
		{"codec 5", 9, 1, "t", rawBatch(5, 1, recordsOf(testRecords(1))), kerr.UnsupportedCompressionType.Code},
		{"zstd before v7", 6, 1, "t", compressedBatch(t, codec.Zstd, testRecords(1)), kerr.UnsupportedCompressionType.Code},
		{"offset delta", 9, 1, "t", badDelta, kerr.InvalidRecord.Code},
		{"bad gzip", 9, 1, "t", rawBatch(codec.Gzip, 1, []byte("not gzip at all")), kerr.CorruptMessage.Code},
	} {
		sp := s.produceOne(tc.version, tc.acks, tc.topic, tc.batch)
		if sp.ErrorCode != tc.code || sp.BaseOffset != -1 {
			t.Errorf("%s: got %v (base %d), want %v", tc.name, kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset, kerr.ErrorForCode(tc.code))
		}
	}
	if leo := s.leo("t", 0); leo != 0 {
		t.Errorf("LEO %d after refused batches", leo)
	}
	// The record that broke the batch is named (v8+).
	sp := s.produceOne(9, 1, "t", badDelta)
	if len(sp.ErrorRecords) != 1 || sp.ErrorRecords[0].RelativeOffset != 1 || sp.ErrorMessage == nil {
		t.Errorf("record errors %+v, message %v", sp.ErrorRecords, sp.ErrorMessage)
	}
}

func TestProducePartitionNotHostedYet(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	s.hold.Store(true)
	s.createTopic("t", 1, nil)
	if sp := s.produceOne(9, 1, "t", plainBatch(1)); sp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("got %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	resp := roundTrip[*kmsg.ProduceResponse](t, s.b, produceReq(9, 1, "t", map[int32][]byte{3: plainBatch(1)}))
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("partition 3: %v", kerr.ErrorForCode(code))
	}
}

func TestProduceIdempotentDuplicate(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	s.createTopic("t", 1, nil)
	init := roundTrip[*kmsg.InitProducerIDResponse](t, s.b, kmsg.NewPtrInitProducerIDRequest())
	if init.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(init.ErrorCode))
	}
	pid := init.ProducerID
	first := s.produceOne(9, -1, "t", plainBatch(2))
	a := s.produceOne(9, -1, "t", idempotentBatch(pid, 0, 0, 3))
	b := s.produceOne(9, -1, "t", idempotentBatch(pid, 0, 3, 1))
	retry := s.produceOne(9, -1, "t", idempotentBatch(pid, 0, 0, 3))
	if first.ErrorCode != 0 || a.ErrorCode != 0 || b.ErrorCode != 0 || retry.ErrorCode != 0 {
		t.Fatalf("codes %d %d %d %d", first.ErrorCode, a.ErrorCode, b.ErrorCode, retry.ErrorCode)
	}
	if a.BaseOffset != 2 || b.BaseOffset != 5 || retry.BaseOffset != a.BaseOffset || s.leo("t", 0) != 6 {
		t.Fatalf("offsets %d %d, retry %d, LEO %d", a.BaseOffset, b.BaseOffset, retry.BaseOffset, s.leo("t", 0))
	}
	if gap := s.produceOne(9, -1, "t", idempotentBatch(pid, 0, 9, 1)); gap.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap: %v", kerr.ErrorForCode(gap.ErrorCode))
	}
}

func TestProduceAcksZero(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	s.createTopic("t", 1, nil)
	raw, err := s.serve(produceReq(9, 0, "t", map[int32][]byte{0: plainBatch(4)}))
	if err != nil || raw != nil || s.leo("t", 0) != 4 {
		t.Fatalf("acks=0: response %x, err %v, LEO %d", raw, err, s.leo("t", 0))
	}
	// A failed acks=0 produce closes the connection, the producer's only hint.
	if _, err := s.serve(produceReq(9, 0, "nope", map[int32][]byte{0: plainBatch(1)})); !errors.Is(err, errAcksZeroFailed) {
		t.Fatalf("failed acks=0: %v", err)
	}
}

func TestProduceLogAppendTime(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	s.createTopic("t", 1, map[string]string{"message.timestamp.type": "LogAppendTime"})
	if sp := s.produceOne(9, 1, "t", plainBatch(1)); sp.ErrorCode != 0 || sp.LogAppendTime <= 1000 {
		t.Fatalf("%+v", sp)
	}
}

func TestInitProducerID(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	initPID := func(version int16, txn *string, pid int64, epoch int16) *kmsg.InitProducerIDResponse {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.SetVersion(version)
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = txn, pid, epoch
		return roundTrip[*kmsg.InitProducerIDResponse](t, s.b, req)
	}
	a, b := initPID(0, nil, -1, -1), initPID(5, nil, -1, -1)
	if a.ErrorCode != 0 || b.ErrorCode != 0 || a.ProducerID < 0 || a.ProducerID == b.ProducerID || a.ProducerEpoch != 0 {
		t.Fatalf("%+v %+v", a, b)
	}
	if bump := initPID(4, nil, b.ProducerID, 0); bump.ProducerID != b.ProducerID || bump.ProducerEpoch != 1 {
		t.Errorf("bump: %+v", bump)
	}
	if exhausted := initPID(4, nil, b.ProducerID, 32766); exhausted.ProducerID == b.ProducerID || exhausted.ProducerEpoch != 0 {
		t.Errorf("exhausted epoch: %+v", exhausted)
	}
	if stranger := initPID(4, nil, 1<<40, 3); stranger.ProducerID == 1<<40 || stranger.ProducerEpoch != 0 {
		t.Errorf("id never handed out: %+v", stranger)
	}
	// Transactional ids go to the transaction coordinator (e2e tests); an
	// empty one is refused here, as Kafka does.
	empty := ""
	if r := initPID(4, &empty, -1, -1); r.ErrorCode != kerr.InvalidRequest.Code || r.ProducerID != -1 {
		t.Errorf("empty transactional id: %+v", r)
	}
}

// TestProduceToInternalTopicRefused: a client may not write the broker's
// own topics (Kafka's InvalidTopicException, code 17); the log is left as
// it was. An ordinary topic named like one is written.
func TestProduceToInternalTopicRefused(t *testing.T) {
	s := newBrokerStack(t, stackConfig())
	if _, err := s.ctrl.CreateTopic(quorum.CreateTopic{Name: "__consumer_offsets", Partitions: 1, ReplicationFactor: 1, Internal: true}, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	s.createTopic("__ordinary", 1, nil)
	for _, topic := range []string{"__consumer_offsets", quorum.MetadataTopic} {
		sp := s.produceOne(11, 1, topic, plainBatch(1))
		if sp.ErrorCode != kerr.InvalidTopicException.Code || sp.ErrorMessage == nil || !strings.Contains(*sp.ErrorMessage, topic) {
			t.Fatalf("%s: error %d, message %v", topic, sp.ErrorCode, sp.ErrorMessage)
		}
	}
	if leo := s.leo("__consumer_offsets", 0); leo != 0 {
		t.Fatalf("__consumer_offsets LEO %d after a refused produce", leo)
	}
	if sp := s.produceOne(11, 1, "__ordinary", plainBatch(1)); sp.ErrorCode != 0 {
		t.Fatalf("__ordinary: error %d", sp.ErrorCode)
	}
}

// A batch for a compacted topic with records without a key is refused
// whole, as Kafka refuses it: INVALID_RECORD naming each such record
// (compressed or not, decompression validation off); keyed records go in.
func TestProduceKeylessToCompactedTopic(t *testing.T) {
	cfg := stackConfig()
	cfg.CompressionValidation = false
	s := newBrokerStack(t, cfg)
	s.createTopic("c", 1, map[string]string{"cleanup.policy": "compact,delete"})
	s.createTopic("t", 1, nil)
	recs := testRecords(4) // record 0 has no key
	recs[2].Key = nil
	for _, id := range allCodecs {
		sp := s.produceOne(9, 1, "c", compressedBatch(t, id, recs))
		if sp.ErrorCode != kerr.InvalidRecord.Code || sp.BaseOffset != -1 || sp.ErrorMessage == nil {
			t.Fatalf("codec %d: got %v (base %d)", id, kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
		}
		if len(sp.ErrorRecords) != 2 || sp.ErrorRecords[0].RelativeOffset != 0 || sp.ErrorRecords[1].RelativeOffset != 2 ||
			sp.ErrorRecords[0].ErrorMessage == nil {
			t.Fatalf("codec %d: record errors %+v", id, sp.ErrorRecords)
		}
	}
	if leo := s.leo("c", 0); leo != 0 {
		t.Fatalf("LEO %d after refused batches", leo)
	}
	if sp := s.produceOne(9, 1, "t", compressedBatch(t, codec.LZ4, recs)); sp.ErrorCode != 0 {
		t.Fatalf("keyless records to a topic not compacted: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	recs[0].Key, recs[2].Key = []byte("k0"), []byte("k2")
	if sp := s.produceOne(9, 1, "c", compressedBatch(t, codec.LZ4, recs)); sp.ErrorCode != 0 || sp.BaseOffset != 0 {
		t.Fatalf("keyed records: %v (base %d)", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}
}

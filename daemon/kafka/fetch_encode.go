package kafka

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kbin"

	"github.com/riffle/riffle/netio"
	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
)

// fetchResponse is a Fetch response body (v4-16) as riffle fills it. The
// hand encoder exists so that each partition's records can be a file region
// sent by sendfile; kmsg would need every record byte in memory.
type fetchResponse struct {
	version   int16
	errorCode int16 // v7+
	sessionID int32 // v7+
	topics    []fetchTopic
	// brokers is NodeEndpoints (tag 0 of the response, v16+, KIP-951):
	// the leaders CurrentLeader names.
	brokers []quorum.Broker
}

type fetchTopic struct {
	name       string   // up to v12
	id         [16]byte // v13+
	partitions []fetchPartition
}

// fetchPartition is one partition's answer. Of
// the tagged fields DivergingEpoch (tag 0) is sent to followers and
// CurrentLeader (tag 1) to clients (v16+, KIP-951); SnapshotID is KRaft's.
type fetchPartition struct {
	partition        int32
	errorCode        int16
	highWatermark    int64
	lastStable       int64        // v4+
	logStartOffset   int64        // v5+
	aborted          []abortedTxn // v4+; nil is encoded null, empty as an empty array
	preferredReplica int32        // v11+
	// records is the partition's record batches: inline bytes or a file
	// region. A zero piece is an empty record set, encoded with length 0:
	// never null, which librdkafka rejects.
	records netio.Piece
	// diverging tells a follower where its log diverges (v12+); nil: none.
	diverging *replica.EpochEnd
	// leader is the partition's leader by the metadata, for a fetcher
	// sent away (v16+); nil or {-1, -1}: none.
	leader *leaderHint
}

// leaderHint is a partition's leader and leader epoch (KIP-951).
type leaderHint struct {
	id, epoch int32
}

type abortedTxn struct {
	producerID  int64
	firstOffset int64
}

// pieceEncoder appends inline bytes and cuts them into pieces around the
// record pieces.
type pieceEncoder struct {
	flexible bool
	buf      []byte
	pieces   []netio.Piece
}

// pieces encodes r byte for byte as kmsg.FetchResponse.AppendTo does, the
// record sets as their own pieces. Each record piece keeps its Release.
func (r *fetchResponse) pieces() []netio.Piece {
	n := 0
	for _, t := range r.topics {
		n += len(t.partitions)
	}
	// Per partition: about 64 inline bytes and a record piece.
	e := &pieceEncoder{
		flexible: r.version >= 12,
		buf:      make([]byte, 0, 64+n*64),
		pieces:   make([]netio.Piece, 0, 2*n+1),
	}
	e.buf = kbin.AppendInt32(e.buf, 0) // throttle: setFetchThrottle
	if r.version >= 7 {
		e.buf = kbin.AppendInt16(e.buf, r.errorCode)
		e.buf = kbin.AppendInt32(e.buf, r.sessionID)
	}
	e.arrayLen(len(r.topics), false)
	for i := range r.topics {
		t := &r.topics[i]
		if r.version >= 13 {
			e.buf = kbin.AppendUuid(e.buf, t.id)
		} else {
			e.string(t.name)
		}
		e.arrayLen(len(t.partitions), false)
		for j := range t.partitions {
			e.partition(r.version, &t.partitions[j])
		}
		e.tags()
	}
	e.responseTags(r.brokers)
	return e.flush()
}

// responseTags writes the response's tag section: NodeEndpoints (tag 0)
// when there are brokers to name.
func (e *pieceEncoder) responseTags(brokers []quorum.Broker) {
	if !e.flexible || len(brokers) == 0 {
		e.tags()
		return
	}
	var field []byte
	field = kbin.AppendCompactArrayLen(field, len(brokers))
	for _, br := range brokers {
		field = kbin.AppendInt32(field, br.ID)
		field = kbin.AppendCompactString(field, br.Host)
		field = kbin.AppendInt32(field, br.Port)
		if br.Rack == "" {
			field = kbin.AppendCompactNullableString(field, nil)
		} else {
			field = kbin.AppendCompactString(field, br.Rack)
		}
		field = append(field, 0) // empty tags
	}
	e.buf = kbin.AppendUvarint(e.buf, 1) // one tagged field
	e.buf = kbin.AppendUvarint(e.buf, 0) // tag 0: NodeEndpoints
	e.buf = kbin.AppendUvarint(e.buf, uint32(len(field)))
	e.buf = append(e.buf, field...)
}

func (e *pieceEncoder) partition(version int16, p *fetchPartition) {
	e.buf = kbin.AppendInt32(e.buf, p.partition)
	e.buf = kbin.AppendInt16(e.buf, p.errorCode)
	e.buf = kbin.AppendInt64(e.buf, p.highWatermark)
	e.buf = kbin.AppendInt64(e.buf, p.lastStable)
	if version >= 5 {
		e.buf = kbin.AppendInt64(e.buf, p.logStartOffset)
	}
	e.arrayLen(len(p.aborted), p.aborted == nil)
	for _, a := range p.aborted {
		e.buf = kbin.AppendInt64(e.buf, a.producerID)
		e.buf = kbin.AppendInt64(e.buf, a.firstOffset)
		e.tags()
	}
	if version >= 11 {
		e.buf = kbin.AppendInt32(e.buf, p.preferredReplica)
	}
	e.records(p.records)
	e.partitionTags(p)
}

// partitionTags writes a partition's tag section: DivergingEpoch (tag 0)
// and CurrentLeader (tag 1) when set. Like Kafka and kmsg, a field at its
// default (-1, -1) is left out.
func (e *pieceEncoder) partitionTags(p *fetchPartition) {
	if !e.flexible {
		return
	}
	diverging := p.diverging != nil && *p.diverging != (replica.EpochEnd{Epoch: -1, EndOffset: -1})
	leader := p.leader != nil && *p.leader != (leaderHint{id: -1, epoch: -1})
	n := uint32(0)
	if diverging {
		n++
	}
	if leader {
		n++
	}
	e.buf = kbin.AppendUvarint(e.buf, n)
	if diverging {
		const size = 4 + 8 + 1               // Epoch, EndOffset, empty tags
		e.buf = kbin.AppendUvarint(e.buf, 0) // tag 0: DivergingEpoch
		e.buf = kbin.AppendUvarint(e.buf, size)
		e.buf = kbin.AppendInt32(e.buf, int32(p.diverging.Epoch))
		e.buf = kbin.AppendInt64(e.buf, int64(p.diverging.EndOffset))
		e.tags()
	}
	if leader {
		const size = 4 + 4 + 1               // LeaderId, LeaderEpoch, empty tags
		e.buf = kbin.AppendUvarint(e.buf, 1) // tag 1: CurrentLeader
		e.buf = kbin.AppendUvarint(e.buf, size)
		e.buf = kbin.AppendInt32(e.buf, p.leader.id)
		e.buf = kbin.AppendInt32(e.buf, p.leader.epoch)
		e.tags()
	}
}

// arrayLen writes an array length, compact (n+1, 0 for null) when flexible.
func (e *pieceEncoder) arrayLen(n int, null bool) {
	switch {
	case e.flexible && null:
		e.buf = kbin.AppendUvarint(e.buf, 0)
	case e.flexible:
		e.buf = kbin.AppendUvarint(e.buf, uint32(n)+1)
	case null:
		e.buf = kbin.AppendInt32(e.buf, -1)
	default:
		e.buf = kbin.AppendInt32(e.buf, int32(n))
	}
}

func (e *pieceEncoder) string(s string) {
	if e.flexible {
		e.buf = kbin.AppendCompactString(e.buf, s)
	} else {
		e.buf = kbin.AppendString(e.buf, s)
	}
}

// tags writes an empty tag section (flexible versions only).
func (e *pieceEncoder) tags() {
	if e.flexible {
		e.buf = append(e.buf, 0)
	}
}

// records writes the record set's length, then the set as its own piece;
// an empty set's piece is released at once.
func (e *pieceEncoder) records(p netio.Piece) {
	n := p.Len()
	if n > math.MaxInt32-1 {
		panic(fmt.Sprintf("kafka: fetch record set of %d bytes", n))
	}
	if e.flexible {
		e.buf = kbin.AppendUvarint(e.buf, uint32(n)+1)
	} else {
		e.buf = kbin.AppendInt32(e.buf, int32(n))
	}
	if n == 0 {
		if p.Release != nil {
			p.Release()
		}
		return
	}
	e.cut()
	e.pieces = append(e.pieces, p)
}

// cut ends the current inline piece. Later appends go past its capped end,
// so they never overwrite it.
func (e *pieceEncoder) cut() {
	if len(e.buf) > 0 {
		e.pieces = append(e.pieces, netio.Piece{Bytes: e.buf[:len(e.buf):len(e.buf)]})
		e.buf = e.buf[len(e.buf):]
	}
}

func (e *pieceEncoder) flush() []netio.Piece {
	e.cut()
	return e.pieces
}

// setFetchThrottle sets the throttle_time_ms of an encoded Fetch response
// body (pieces' first 4 bytes), once quotas have measured it.
func setFetchThrottle(body []netio.Piece, ms int32) {
	binary.BigEndian.PutUint32(body[0].Bytes[:4], uint32(ms))
}

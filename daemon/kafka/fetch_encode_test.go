package kafka

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/netio"
	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
	"github.com/riffle/riffle/segment/vfs"
)

// randomFetch builds the same random response twice: as kmsg sees it and as
// the hand encoder sees it. Records go into file as regions or stay inline.
func randomFetch(t *testing.T, rng *rand.Rand, version int16, file *os.File, released map[int]int) (*kmsg.FetchResponse, *fetchResponse) {
	t.Helper()
	k := kmsg.NewPtrFetchResponse()
	k.Version = version
	ours := &fetchResponse{version: version}
	if version >= 7 {
		k.ErrorCode, k.SessionID = int16(rng.IntN(100)), rng.Int32()
		ours.errorCode, ours.sessionID = k.ErrorCode, k.SessionID
	}
	for range rng.IntN(4) {
		kt := kmsg.FetchResponseTopic{}
		if version >= 13 {
			for i := range kt.TopicID {
				kt.TopicID[i] = byte(rng.Uint32())
			}
		} else {
			kt.Topic = fmt.Sprintf("topic-%d-%s", rng.IntN(1000), string(bytes.Repeat([]byte{'x'}, rng.IntN(200))))
		}
		ot := fetchTopic{name: kt.Topic, id: kt.TopicID}
		for range rng.IntN(5) {
			kp, op := randomFetchPartition(t, rng, file, released)
			kt.Partitions = append(kt.Partitions, kp)
			ot.partitions = append(ot.partitions, op)
		}
		k.Topics = append(k.Topics, kt)
		ours.topics = append(ours.topics, ot)
	}
	if version >= 16 {
		for i := range rng.IntN(3) {
			br := quorum.Broker{ID: int32(i), Host: fmt.Sprintf("host-%d.example", rng.IntN(100)), Port: rng.Int32N(65536)}
			kb := kmsg.NewFetchResponseBroker()
			kb.NodeID, kb.Host, kb.Port = br.ID, br.Host, br.Port
			if rng.IntN(2) == 0 {
				br.Rack = fmt.Sprintf("rack-%d", rng.IntN(10))
				kb.Rack = &br.Rack
			}
			k.Brokers = append(k.Brokers, kb)
			ours.brokers = append(ours.brokers, br)
		}
	}
	return k, ours
}

func randomFetchPartition(t *testing.T, rng *rand.Rand, file *os.File, released map[int]int) (kmsg.FetchResponseTopicPartition, fetchPartition) {
	kp := kmsg.NewFetchResponseTopicPartition()
	kp.Partition = rng.Int32N(1 << 20)
	kp.ErrorCode = int16(rng.IntN(120) - 1)
	kp.HighWatermark, kp.LastStableOffset, kp.LogStartOffset = rng.Int64()-1<<62, rng.Int64(), rng.Int64N(1<<40)-1
	kp.PreferredReadReplica = rng.Int32N(10) - 1
	switch rng.IntN(3) {
	case 0: // null
	case 1:
		kp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	default:
		for range 1 + rng.IntN(3) {
			kp.AbortedTransactions = append(kp.AbortedTransactions,
				kmsg.FetchResponseTopicPartitionAbortedTransaction{ProducerID: rng.Int64(), FirstOffset: rng.Int64()})
		}
	}
	sizes := []int{0, 1, 61, 200, 5000, 70000}
	kp.RecordBatches = make([]byte, sizes[rng.IntN(len(sizes))]+rng.IntN(3))
	for i := range kp.RecordBatches {
		kp.RecordBatches[i] = byte(rng.Uint32())
	}
	op := fetchPartition{
		partition: kp.Partition, errorCode: kp.ErrorCode, highWatermark: kp.HighWatermark,
		lastStable: kp.LastStableOffset, logStartOffset: kp.LogStartOffset,
		preferredReplica: kp.PreferredReadReplica,
	}
	if kp.AbortedTransactions != nil {
		op.aborted = []abortedTxn{}
	}
	if rng.IntN(3) == 0 {
		// Sent from v12 only; the encoders agree on the version.
		kp.DivergingEpoch.Epoch, kp.DivergingEpoch.EndOffset = rng.Int32N(5)-1, rng.Int64N(1<<40)-1
		op.diverging = &replica.EpochEnd{Epoch: ids.Epoch(kp.DivergingEpoch.Epoch), EndOffset: ids.Offset(kp.DivergingEpoch.EndOffset)}
	}
	if rng.IntN(3) == 0 {
		// Sent from v16 only; from v12 both encoders write it when set.
		kp.CurrentLeader.LeaderID, kp.CurrentLeader.LeaderEpoch = rng.Int32N(5)-1, rng.Int32N(5)-1
		op.leader = &leaderHint{id: kp.CurrentLeader.LeaderID, epoch: kp.CurrentLeader.LeaderEpoch}
	}
	for _, a := range kp.AbortedTransactions {
		op.aborted = append(op.aborted, abortedTxn{producerID: a.ProducerID, firstOffset: a.FirstOffset})
	}
	id := len(released)
	released[id] = 0
	release := func() { released[id]++ }
	if rng.IntN(2) == 0 {
		op.records = netio.Piece{Bytes: kp.RecordBatches, Release: release}
		return kp, op
	}
	pos, err := file.Seek(0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.Write(kp.RecordBatches); err != nil {
		t.Fatal(err)
	}
	op.records = netio.Piece{File: file, Offset: pos, Length: int64(len(kp.RecordBatches)), Release: release}
	return kp, op
}

// materialise concatenates the pieces, reading file regions, and calls each
// Release (as netio does once a piece is sent).
func materialise(t testing.TB, pieces []netio.Piece) []byte {
	t.Helper()
	out, err := concatPieces(pieces)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// concatPieces is materialise for goroutines other than the test's.
func concatPieces(pieces []netio.Piece) ([]byte, error) {
	var out []byte
	var err error
	for _, p := range pieces {
		switch {
		case p.File == nil && p.Length != 0:
			err = fmt.Errorf("inline piece with a length")
		case p.File != nil:
			buf := make([]byte, p.Length)
			if _, rerr := p.File.ReadAt(buf, p.Offset); rerr != nil && err == nil {
				err = rerr
			}
			out = append(out, buf...)
		default:
			out = append(out, p.Bytes...)
		}
		releasePiece(p)
	}
	return out, err
}

// TestFetchEncoderMatchesKmsg checks that the hand encoder writes exactly
// what kmsg writes, for every served version and many random responses.
func TestFetchEncoderMatchesKmsg(t *testing.T) {
	file, err := os.Create(filepath.Join(t.TempDir(), "records"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for version := int16(4); version <= 16; version++ {
		for i := range 200 {
			released := map[int]int{}
			want, ours := randomFetch(t, rng, version, file, released)
			got := materialise(t, ours.pieces())
			wantBytes := want.AppendTo(nil)
			if !bytes.Equal(got, wantBytes) {
				t.Fatalf("v%d #%d: encodings differ\n got %x\nwant %x", version, i, got, wantBytes)
			}
			for id, n := range released {
				if n != 1 {
					t.Fatalf("v%d #%d: record piece %d released %d times", version, i, id, n)
				}
			}
			decoded := kmsg.NewPtrFetchResponse()
			decoded.Version = version
			if err := decoded.ReadFrom(got); err != nil {
				t.Fatalf("v%d #%d: kmsg cannot decode: %v", version, i, err)
			}
			if !bytes.Equal(decoded.AppendTo(nil), wantBytes) {
				t.Fatalf("v%d #%d: decoded response re-encodes differently", version, i)
			}
		}
	}
}

// TestFetchEncoderEmptyRecordsNotNull pins the one difference from a naive
// encoding: an empty record set has length 0, never -1.
func TestFetchEncoderEmptyRecordsNotNull(t *testing.T) {
	for _, version := range []int16{4, 11, 12} {
		r := &fetchResponse{version: version, topics: []fetchTopic{{name: "t", partitions: []fetchPartition{{}}}}}
		raw := materialise(t, r.pieces())
		decoded := kmsg.NewPtrFetchResponse()
		decoded.Version = version
		if err := decoded.ReadFrom(raw); err != nil {
			t.Fatal(err)
		}
		if rec := decoded.Topics[0].Partitions[0].RecordBatches; rec == nil || len(rec) != 0 {
			t.Fatalf("v%d: records %v, want empty and non-null", version, rec)
		}
	}
}

func BenchmarkFetchEncode(b *testing.B) {
	r := &fetchResponse{version: 12}
	for ti := range 4 {
		ft := fetchTopic{name: fmt.Sprintf("topic-%d", ti)}
		for p := range 16 {
			ft.partitions = append(ft.partitions, fetchPartition{partition: int32(p), highWatermark: 1000, lastStable: 1000,
				preferredReplica: -1, records: netio.Piece{File: os.Stdin, Offset: 4096, Length: 1 << 20}})
		}
		r.topics = append(r.topics, ft)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = r.pieces()
	}
}

func TestRegionPieceSendfileOrCopy(t *testing.T) {
	data := []byte("0123456789")
	mem := vfs.NewMemFS()
	dir := t.TempDir()
	if err := mem.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, fs := range map[string]vfs.FS{"os": vfs.OS, "mem": mem} {
		f, err := fs.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(data, 0); err != nil {
			t.Fatal(err)
		}
		p, err := regionPiece(segment.Region{File: f, Pos: 2, Len: 5})
		if err != nil {
			t.Fatal(err)
		}
		if (p.File != nil) != (name == "os") {
			t.Fatalf("%s: file piece %v", name, p.File != nil)
		}
		if got := materialise(t, []netio.Piece{p}); string(got) != "23456" {
			t.Fatalf("%s: piece holds %q", name, got)
		}
		if empty, err := regionPiece(segment.Region{File: f, Pos: 10}); err != nil || empty.Len() != 0 || empty.Release != nil {
			t.Fatalf("%s: empty region gave %+v, %v", name, empty, err)
		}
	}
}

// TestFetchEncoderDivergingEpoch: a follower's DivergingEpoch decodes with
// kmsg at v12 and is dropped where the wire has no room for it.
func TestFetchEncoderDivergingEpoch(t *testing.T) {
	for _, tc := range []struct {
		version   int16
		diverging replica.EpochEnd
		want      kmsg.FetchResponseTopicPartitionDivergingEpoch
	}{
		{12, replica.EpochEnd{Epoch: 3, EndOffset: 1 << 33}, kmsg.FetchResponseTopicPartitionDivergingEpoch{Epoch: 3, EndOffset: 1 << 33}},
		{12, replica.EpochEnd{Epoch: -1, EndOffset: -1}, kmsg.FetchResponseTopicPartitionDivergingEpoch{Epoch: -1, EndOffset: -1}},
		{11, replica.EpochEnd{Epoch: 3, EndOffset: 7}, kmsg.FetchResponseTopicPartitionDivergingEpoch{Epoch: -1, EndOffset: -1}},
	} {
		r := &fetchResponse{version: tc.version, topics: []fetchTopic{{name: "t", partitions: []fetchPartition{
			{partition: 1, highWatermark: 5, diverging: &tc.diverging}, {partition: 2, highWatermark: 6}}}}}
		raw := materialise(t, r.pieces())
		decoded := kmsg.NewPtrFetchResponse()
		decoded.Version = tc.version
		if err := decoded.ReadFrom(raw); err != nil {
			t.Fatalf("v%d: %v", tc.version, err)
		}
		ps := decoded.Topics[0].Partitions
		if len(ps) != 2 || ps[0].DivergingEpoch.Epoch != tc.want.Epoch || ps[0].DivergingEpoch.EndOffset != tc.want.EndOffset ||
			ps[1].DivergingEpoch.Epoch != -1 || ps[1].HighWatermark != 6 {
			t.Fatalf("v%d %+v: decoded %+v", tc.version, tc.diverging, ps)
		}
		want := kmsg.NewPtrFetchResponse()
		want.Version = tc.version
		want.Topics = decoded.Topics
		if !bytes.Equal(raw, want.AppendTo(nil)) {
			t.Fatalf("v%d %+v: encodings differ from kmsg", tc.version, tc.diverging)
		}
	}
}

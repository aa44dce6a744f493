package quorum

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
)

// randomImage builds an image the way the log does, by applying random
// records: brokers re-registered and their state set, topics created, their
// partitions changed (some being reassigned) and topics removed, configs set
// and deleted, producer id blocks reserved.
func randomImage(t *testing.T, rng *rand.Rand) *Image {
	t.Helper()
	var recs []record
	if rng.IntN(4) > 0 {
		recs = append(recs, clusterIDRecord{ClusterID: fmt.Sprintf("cluster-%d", rng.Int())})
	}
	var ids []int32
	for range rng.IntN(6) {
		id := rng.Int32N(10)
		ids = append(ids, id)
		b := registerBrokerRecord{ID: id, Host: fmt.Sprintf("h%d", rng.IntN(100)), Port: rng.Int32N(65536), Rack: []string{"", "r1", "r2"}[rng.IntN(3)]}
		for i := range b.Incarnation {
			b.Incarnation[i] = byte(rng.Uint32())
		}
		recs = append(recs, b)
		if rng.IntN(2) == 0 {
			recs = append(recs, brokerStateRecord{ID: id, Epoch: rng.Int64N(1000), Fenced: rng.IntN(2) == 0, InControlledShutdown: rng.IntN(2) == 0})
		}
	}
	var topics []topicRecord
	for i := range rng.IntN(8) {
		tr := topicRecord{Name: fmt.Sprintf("topic-%d-%d", i, rng.IntN(1000)), Internal: rng.IntN(5) == 0}
		for j := range tr.ID {
			tr.ID[j] = byte(rng.Uint32())
		}
		topics = append(topics, tr)
		recs = append(recs, tr)
		for p := range int32(1 + rng.IntN(4)) {
			replicas := []int32{rng.Int32N(10), 10 + rng.Int32N(10)}
			isr := make([]int32, rng.IntN(3))
			copy(isr, replicas)
			leader := int32(-1)
			if len(isr) > 0 {
				leader = isr[0]
			}
			recs = append(recs, partitionRecord{TopicID: tr.ID, Partition: p, Replicas: replicas, ISR: isr,
				Leader: leader, LeaderEpoch: rng.Int32N(100), PartitionEpoch: rng.Int32N(100)})
			if rng.IntN(3) == 0 {
				recs = append(recs, partitionChangeRecord{TopicID: tr.ID, Partition: p, Leader: -1, ISR: replicas[:1]})
			}
			if rng.IntN(3) == 0 { // a reassignment in progress: replicas[0] to a new broker
				to := 20 + rng.Int32N(10)
				recs = append(recs, partitionChangeRecord{TopicID: tr.ID, Partition: p, Leader: noLeaderChange,
					Replicas: []int32{to, replicas[1], replicas[0]}, Removing: replicas[:1], Adding: []int32{to}})
			}
		}
		for range rng.IntN(4) {
			key := fmt.Sprintf("k%d", rng.IntN(5))
			recs = append(recs, configRecord{Topic: tr.Name, Key: key, Value: fmt.Sprint(rng.Int()), Delete: rng.IntN(4) == 0})
		}
	}
	for _, tr := range topics {
		if rng.IntN(4) == 0 {
			recs = append(recs, removeTopicRecord{TopicID: tr.ID})
		}
	}
	for _, k := range []string{"log.retention.ms", "min.insync.replicas"} {
		switch rng.IntN(3) {
		case 0:
			recs = append(recs, configRecord{Key: k, Value: strconv.Itoa(rng.IntN(9))})
		case 1:
			recs = append(recs, configRecord{Key: k, Value: "1"}, configRecord{Key: k, Delete: true})
		}
	}
	for end := int64(0); rng.IntN(3) > 0; {
		end += 1 + rng.Int64N(5000)
		recs = append(recs, producerIDsRecord{BlockEnd: end})
	}
	im, err := emptyImage(7).apply(recs, int64(len(recs))-1+rng.Int64N(50))
	if err != nil {
		t.Fatal(err)
	}
	return im
}

func TestImageSnapshotRoundTrip(t *testing.T) {
	for seed := range uint64(200) {
		im := randomImage(t, rand.New(rand.NewPCG(seed, 1)))
		data := encodeImage(im)
		got, err := decodeImage(data, 7)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		// The topic tries' shapes depend on their history, so images
		// compare by their printed form and their encoding.
		if formatImage(got) != formatImage(im) {
			t.Fatalf("seed %d: decoded\n%s\nencoded\n%s", seed, formatImage(got), formatImage(im))
		}
		if again := encodeImage(got); !bytes.Equal(again, data) {
			t.Fatalf("seed %d: the decoded image encodes differently", seed)
		}
		if off, err := imageDataOffset(data); err != nil || off != im.Offset {
			t.Fatalf("seed %d: offset %d, %v; want %d", seed, off, err, im.Offset)
		}
	}
	empty, err := decodeImage(encodeImage(emptyImage(3)), 3)
	if err != nil || !reflect.DeepEqual(empty, emptyImage(3)) {
		t.Fatalf("empty image: %v %v", empty, err)
	}
}

func TestDecodeImageRejects(t *testing.T) {
	im := randomImage(t, rand.New(rand.NewPCG(1, 1)))
	good := encodeImage(im)
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 1
	newer := bytes.Clone(good)
	newer[0] = 1
	// An image whose records do not apply: a config of a missing topic.
	bad := append(encodeImage(emptyImage(0))[:imageDataHeaderBytes:imageDataHeaderBytes],
		encodeBatch([]record{configRecord{Topic: "none", Key: "k", Value: "v"}}, 0)...)
	for name, data := range map[string][]byte{
		"empty": nil, "short header": good[:5], "newer version": newer, "flipped": flipped,
		"truncated": good[:len(good)-2], "does not apply": bad,
	} {
		if _, err := decodeImage(data, 0); !errors.Is(err, ErrCorruptMetadata) {
			t.Errorf("%s: %v, want ErrCorruptMetadata", name, err)
		}
	}
}

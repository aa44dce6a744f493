package quorum

import (
	"errors"
	"reflect"
	"testing"

	"github.com/riffle/riffle/segment"
)

// everyRecord holds one record of each type, with every field set.
var everyRecord = []record{
	clusterIDRecord{ClusterID: "AQEBAQEBAQEBAQEBAQEBAQ"},
	registerBrokerRecord{ID: 7, Host: "broker-7.example", Port: 9092, Rack: "r1", Incarnation: [16]byte{1, 2, 3}},
	topicRecord{Name: "orders", ID: [16]byte{9, 9}, Internal: true},
	partitionRecord{TopicID: [16]byte{9, 9}, Partition: 0, Replicas: []int32{7, 8}, ISR: []int32{7}, Leader: 7, LeaderEpoch: 3, PartitionEpoch: 4},
	configRecord{Topic: "orders", Key: "retention.ms", Value: "1000"},
	configRecord{Topic: "orders", Key: "segment.ms", Delete: true},
	removeTopicRecord{TopicID: [16]byte{9, 9}},
	producerIDsRecord{BlockEnd: 1000},
	noOpRecord{},
	brokerStateRecord{ID: 7, Epoch: 12, Fenced: true, InControlledShutdown: true},
	partitionChangeRecord{TopicID: [16]byte{9, 9}, Partition: 0, Leader: -1, ISR: []int32{8}},
	partitionChangeRecord{TopicID: [16]byte{9, 9}, Partition: 0, Leader: noLeaderChange},
	partitionChangeRecord{TopicID: [16]byte{9, 9}, Partition: 0, Leader: 8, ISR: []int32{}},
	// Version 1: a reassignment's fields, set or cleared.
	partitionRecord{TopicID: [16]byte{9, 9}, Partition: 1, Replicas: []int32{8, 9, 7}, ISR: []int32{7}, Leader: 7,
		LeaderEpoch: 1, PartitionEpoch: 2, Removing: []int32{7}, Adding: []int32{8, 9}},
	partitionChangeRecord{TopicID: [16]byte{9, 9}, Partition: 0, Leader: noLeaderChange, Replicas: []int32{8, 9, 7},
		Removing: []int32{7}, Adding: []int32{8, 9}},
	partitionChangeRecord{TopicID: [16]byte{9, 9}, Partition: 0, Leader: 8, ISR: []int32{8}, Replicas: []int32{8},
		Removing: []int32{}, Adding: []int32{}},
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range everyRecord {
		key, value := encodeRecord(r)
		got, err := decodeRecord(key, value)
		if err != nil {
			t.Fatalf("%T: %v", r, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip of %#v gave %#v", r, got)
		}
	}
	_, recs, err := decodeBatch(encodeBatch(everyRecord, 1234))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(recs, everyRecord) {
		t.Errorf("batch round trip:\n got %#v\nwant %#v", recs, everyRecord)
	}
}

func TestDecodeRecordRejects(t *testing.T) {
	key, value := encodeRecord(everyRecord[3])
	cases := []struct {
		name       string
		key, value []byte
	}{
		{"short key", key[:1], value},
		{"newer version", []byte{key[0], 1}, value},
		{"unknown type", []byte{99, 0}, value},
		{"truncated", key, value[:len(value)-1]},
		{"trailing bytes", key, append(value[:len(value):len(value)], 0)},
		{"huge array count", []byte{byte(typePartition), 0}, append(make([]byte, 20), 0xff, 0xff, 0xff, 0xff, 0x0f)},
		{"bad bool", []byte{byte(typeTopic), 0}, append(append([]byte{0}, make([]byte, 16)...), 2)},
	}
	for _, c := range cases {
		if _, err := decodeRecord(c.key, c.value); !errors.Is(err, ErrCorruptMetadata) {
			t.Errorf("%s: got %v, want ErrCorruptMetadata", c.name, err)
		}
	}
}

func TestDecodeBatchRejects(t *testing.T) {
	good := encodeBatch(everyRecord, 0)
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)-1] ^= 1 // CRC mismatch
	foreign := segment.EncodeBatch(nil, segment.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]segment.Record{{Key: []byte("k"), Value: []byte("v")}})
	for name, b := range map[string][]byte{"flipped": flipped, "foreign record": foreign, "truncated": good[:len(good)-3]} {
		if _, _, err := decodeBatch(b); !errors.Is(err, ErrCorruptMetadata) {
			t.Errorf("%s: got %v, want ErrCorruptMetadata", name, err)
		}
	}
}

// TestApplyRejects: records that contradict the image fail to apply, and
// the image they were applied to is unchanged.
func TestApplyRejects(t *testing.T) {
	base, err := emptyImage(1).apply([]record{
		clusterIDRecord{ClusterID: "c"},
		registerBrokerRecord{ID: 1, Host: "h", Port: 1},
		topicRecord{Name: "t", ID: [16]byte{1}},
		partitionRecord{TopicID: [16]byte{1}, Partition: 0, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1},
		producerIDsRecord{BlockEnd: 1000},
	}, 4)
	if err != nil {
		t.Fatal(err)
	}
	before := formatImage(base)
	cases := map[string]record{
		"second cluster id":     clusterIDRecord{ClusterID: "d"},
		"topic name taken":      topicRecord{Name: "t", ID: [16]byte{2}},
		"topic id taken":        topicRecord{Name: "u", ID: [16]byte{1}},
		"partition gap":         partitionRecord{TopicID: [16]byte{1}, Partition: 2, Replicas: []int32{1}, Leader: 1},
		"partition repeated":    partitionRecord{TopicID: [16]byte{1}, Partition: 0, Replicas: []int32{1}, Leader: 1},
		"leader not a replica":  partitionRecord{TopicID: [16]byte{1}, Partition: 1, Replicas: []int32{1}, Leader: 2},
		"no replicas":           partitionRecord{TopicID: [16]byte{1}, Partition: 1, Leader: -1},
		"partition of nothing":  partitionRecord{TopicID: [16]byte{7}, Partition: 0, Replicas: []int32{1}, Leader: 1},
		"remove unknown":        removeTopicRecord{TopicID: [16]byte{7}},
		"config of nothing":     configRecord{Topic: "nope", Key: "k", Value: "v"},
		"producer ids go back":  producerIDsRecord{BlockEnd: 1000},
		"state of nothing":      brokerStateRecord{ID: 9, Epoch: 1},
		"change of nothing":     partitionChangeRecord{TopicID: [16]byte{7}, Partition: 0, Leader: 1},
		"change of p1":          partitionChangeRecord{TopicID: [16]byte{1}, Partition: 1, Leader: 1},
		"change to empty ISR":   partitionChangeRecord{TopicID: [16]byte{1}, Partition: 0, Leader: noLeaderChange, ISR: []int32{}},
		"change ISR outside":    partitionChangeRecord{TopicID: [16]byte{1}, Partition: 0, Leader: noLeaderChange, ISR: []int32{1, 2}},
		"change leader outside": partitionChangeRecord{TopicID: [16]byte{1}, Partition: 0, Leader: 2},
		"replicas drop leader":  partitionChangeRecord{TopicID: [16]byte{1}, Partition: 0, Leader: noLeaderChange, Replicas: []int32{3}},
		"replicas twice":        partitionChangeRecord{TopicID: [16]byte{1}, Partition: 0, Leader: noLeaderChange, Replicas: []int32{1, 1}},
		"adding outside":        partitionChangeRecord{TopicID: [16]byte{1}, Partition: 0, Leader: noLeaderChange, Adding: []int32{3}},
		"added and removed": partitionChangeRecord{TopicID: [16]byte{1}, Partition: 0, Leader: noLeaderChange, Replicas: []int32{1, 3},
			Removing: []int32{3}, Adding: []int32{3}},
	}
	for name, r := range cases {
		// A good record first: the batch must fail as a whole.
		_, err := base.apply([]record{configRecord{Topic: "t", Key: "retention.ms", Value: "1"}, r}, 6)
		if !errors.Is(err, ErrCorruptMetadata) {
			t.Errorf("%s: got %v, want ErrCorruptMetadata", name, err)
		}
	}
	if after := formatImage(base); after != before {
		t.Errorf("base image changed:\n%s\nwas:\n%s", after, before)
	}
}

// TestApplyCopyOnWrite: a new image shares unchanged topics and never
// changes the old one's.
func TestApplyCopyOnWrite(t *testing.T) {
	recs := []record{
		topicRecord{Name: "a", ID: [16]byte{1}},
		partitionRecord{TopicID: [16]byte{1}, Partition: 0, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1},
		topicRecord{Name: "b", ID: [16]byte{2}},
		partitionRecord{TopicID: [16]byte{2}, Partition: 0, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1},
	}
	im1, err := emptyImage(1).apply(recs, 3)
	if err != nil {
		t.Fatal(err)
	}
	im2, err := im1.apply([]record{
		configRecord{Topic: "a", Key: "retention.ms", Value: "5"},
		partitionRecord{TopicID: [16]byte{1}, Partition: 1, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1},
	}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if im2.Topic("b") != im1.Topic("b") {
		t.Error("unchanged topic b was copied")
	}
	if im2.Topic("a") == im1.Topic("a") || im2.TopicByID([16]byte{1}) != im2.Topic("a") {
		t.Error("changed topic a is shared with the old image or indexed inconsistently")
	}
	if a := im1.Topic("a"); len(a.Partitions) != 1 || len(a.Configs) != 0 {
		t.Errorf("old image's topic a changed: %+v", a)
	}
	if a := im2.Topic("a"); len(a.Partitions) != 2 || a.Configs["retention.ms"] != "5" {
		t.Errorf("new image's topic a: %+v", a)
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch(everyRecord, 0))
	for _, r := range everyRecord {
		f.Add(encodeBatch([]record{r}, 0))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, recs, err := decodeBatch(b)
		if err != nil {
			return
		}
		// What decodes must encode back to records that decode the same.
		_, again, err := decodeBatch(encodeBatch(recs, 0))
		if err != nil || !reflect.DeepEqual(again, recs) {
			t.Fatalf("re-encoded batch: %v, %#v vs %#v", err, again, recs)
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	for _, r := range everyRecord {
		k, v := encodeRecord(r)
		f.Add(k, v)
	}
	f.Fuzz(func(t *testing.T, key, value []byte) {
		r, err := decodeRecord(key, value)
		if err != nil {
			return
		}
		k, v := encodeRecord(r)
		if string(k) != string(key) || string(v) != string(value) {
			t.Fatalf("%#v re-encodes as %x %x, was %x %x", r, k, v, key, value)
		}
	})
}

package segment

import (
	"bytes"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestEncodeBatchDecodesWithKmsg(t *testing.T) {
	b := EncodeBatch(nil, BatchSpec{BaseTimestamp: 1000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, []Record{
		{Key: []byte("k0"), Value: []byte("v0")},
		{Key: nil, Value: []byte("v1"), TimestampDelta: 7, Headers: []RecordHeader{{Key: "h", Value: []byte("x")}}},
	})
	v, err := ValidateBatch(b, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if h := v.Header(); h.RecordCount != 2 || h.MaxTimestamp != 1007 || h.Size() != int64(len(b)) {
		t.Fatalf("header %+v", h)
	}
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	recs := kb.Records
	var r kmsg.Record
	if err := r.ReadFrom(recs); err != nil {
		t.Fatal(err)
	}
	if string(r.Key) != "k0" || string(r.Value) != "v0" {
		t.Fatalf("first record %q=%q", r.Key, r.Value)
	}
}

func TestValidateBatchRejects(t *testing.T) {
	good := EncodeBatch(nil, BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, []Record{{Value: []byte("v")}})
	cases := map[string]struct {
		mutate func([]byte) []byte
		want   error
	}{
		"crc":       {func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, ErrCorruptBatch},
		"magic":     {func(b []byte) []byte { b[offMagic] = 1; return b }, ErrUnsupportedMagic},
		"length":    {func(b []byte) []byte { return b[:len(b)-1] }, ErrCorruptBatch},
		"short":     {func(b []byte) []byte { return b[:30] }, ErrCorruptBatch},
		"trailing":  {func(b []byte) []byte { return append(b, make([]byte, 100)...) }, ErrTrailingBytes},
		"too large": {func(b []byte) []byte { return EncodeBatch(nil, BatchSpec{}, []Record{{Value: make([]byte, 100)}}) }, ErrBatchTooLarge},
	}
	for name, c := range cases {
		b := c.mutate(append([]byte(nil), good...))
		max := int32(len(good) + 50)
		if v, err := ValidateBatch(b, max); !errors.Is(err, c.want) || v.Bytes() != nil {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	if _, err := ValidateBatch(good, int32(len(good))); err != nil {
		t.Fatalf("good batch: %v", err)
	}
}

func TestSetLogAppendTimeKeepsCRCValid(t *testing.T) {
	b := EncodeBatch(nil, BatchSpec{BaseTimestamp: 5, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, []Record{{Value: []byte("v")}})
	SetBaseOffset(b, 42)
	SetPartitionLeaderEpoch(b, 3)
	SetLogAppendTime(b, 99)
	v, err := ValidateBatch(b, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if h := v.Header(); h.BaseOffset != 42 || h.PartitionLeaderEpoch != 3 || h.MaxTimestamp != 99 || h.Attributes&AttrLogAppendTime == 0 {
		t.Fatalf("header %+v", h)
	}
}

// TestValidateBatches: a fetch answer's batches, a partial one at the end
// dropped, the valid ones before a corrupt one kept.
func TestValidateBatches(t *testing.T) {
	var all []byte
	for i := range 3 {
		all = append(all, testBatch(int64(i), 2)...)
	}
	one := len(all) / 3
	got, err := ValidateBatches(all[:2*one+one/2], 1<<20)
	if err != nil || len(got) != 2 || !bytes.Equal(got[1].Bytes(), all[one:2*one]) {
		t.Fatalf("cut answer: %d batches, %v", len(got), err)
	}
	bad := bytes.Clone(all)
	bad[2*one+BatchHeaderSize] ^= 1
	if got, err := ValidateBatches(bad, 1<<20); !errors.Is(err, ErrCorruptBatch) || len(got) != 2 {
		t.Fatalf("corrupt third batch: %d batches, %v", len(got), err)
	}
	if got, err := ValidateBatches(all, int32(one-1)); !errors.Is(err, ErrBatchTooLarge) || len(got) != 0 {
		t.Fatalf("over the limit: %d batches, %v", len(got), err)
	}
}

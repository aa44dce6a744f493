package quorum

import (
	"errors"
	"maps"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestClientQuotasPersist: quotas set through the controller survive a
// restart (log replay) and a snapshot; removal drops a key and, with its
// last key, the entity; invalid changes (unknown key, negative or
// fractional byte rate, empty entity or name) are refused whole.
func TestClientQuotasPersist(t *testing.T) {
	n := newNode(t)
	ctrl, stop := n.open(self)
	alice := QuotaEntity{User: QuotaNamed("alice")}
	aliceApp := QuotaEntity{User: QuotaNamed("alice"), ClientID: QuotaNamed("app")}
	defaults := QuotaEntity{User: QuotaDefaultName, ClientID: QuotaDefaultName}
	if err := ctrl.AlterClientQuotas([]QuotaChange{
		{Entity: alice, Key: QuotaProducerByteRate, Value: 1024},
		{Entity: alice, Key: QuotaRequestPercentage, Value: 12.5},
		{Entity: aliceApp, Key: QuotaConsumerByteRate, Value: 2048},
		{Entity: defaults, Key: QuotaProducerByteRate, Value: 4096},
	}); err != nil {
		t.Fatal(err)
	}
	want := map[QuotaEntity]map[string]float64{
		alice:    {QuotaProducerByteRate: 1024, QuotaRequestPercentage: 12.5},
		aliceApp: {QuotaConsumerByteRate: 2048},
		defaults: {QuotaProducerByteRate: 4096},
	}
	check := func(im *Image, what string, want map[QuotaEntity]map[string]float64) {
		t.Helper()
		got := map[QuotaEntity]map[string]float64{}
		for _, q := range im.Security.ClientQuotas() {
			got[q.Entity] = q.Values
		}
		if !maps.EqualFunc(got, want, maps.Equal) {
			t.Fatalf("%s: quotas %v, want %v", what, got, want)
		}
	}
	check(ctrl.Image(), "after the change", want)
	snap, err := decodeImage(encodeImage(ctrl.Image()), 1)
	if err != nil {
		t.Fatal(err)
	}
	check(snap, "snapshot", want)
	stop()
	ctrl, _ = n.open(self)
	check(ctrl.Image(), "after a restart", want)

	if err := ctrl.AlterClientQuotas([]QuotaChange{
		{Entity: aliceApp, Key: QuotaConsumerByteRate, Remove: true},
		{Entity: alice, Key: QuotaRequestPercentage, Remove: true},
	}); err != nil {
		t.Fatal(err)
	}
	check(ctrl.Image(), "after removals", map[QuotaEntity]map[string]float64{
		alice: {QuotaProducerByteRate: 1024}, defaults: {QuotaProducerByteRate: 4096}})
	for _, bad := range []QuotaChange{
		{Entity: alice, Key: "bogus_rate", Value: 1},
		{Entity: alice, Key: QuotaProducerByteRate, Value: -1},
		{Entity: QuotaEntity{User: QuotaNamed("")}, Key: QuotaProducerByteRate, Value: 1},
		{Entity: alice, Key: QuotaProducerByteRate, Value: 1.5},
		{Entity: QuotaEntity{}, Key: QuotaProducerByteRate, Value: 1},
	} {
		err := ctrl.AlterClientQuotas([]QuotaChange{{Entity: aliceApp, Key: QuotaConsumerByteRate, Value: 1}, bad})
		if !errors.Is(err, kerr.InvalidRequest) {
			t.Errorf("%+v: %v, want INVALID_REQUEST", bad, err)
		}
	}
	check(ctrl.Image(), "after refused changes", map[QuotaEntity]map[string]float64{
		alice: {QuotaProducerByteRate: 1024}, defaults: {QuotaProducerByteRate: 4096}})
}

// TestQuotaPrecedence: each of Kafka's eight levels wins over the ones
// after it, per key, and the bucket names the actual user and client id
// where the matching entity has a default.
func TestQuotaPrecedence(t *testing.T) {
	u, c, d, none := QuotaNamed("u"), QuotaNamed("c"), QuotaDefaultName, QuotaName{}
	levels := []QuotaEntity{{u, c}, {u, d}, {u, none}, {d, c}, {d, d}, {d, none}, {none, c}, {none, d}}
	buckets := []QuotaEntity{{u, c}, {u, c}, {u, none}, {u, c}, {u, c}, {u, none}, {none, c}, {none, c}}
	var s Security
	if _, _, ok := s.QuotaFor("u", "c", QuotaProducerByteRate); ok {
		t.Fatal("a quota without any set")
	}
	// Add from the least specific level up: each new one must win.
	for i := len(levels) - 1; i >= 0; i-- {
		s = s.withQuota(levels[i], QuotaProducerByteRate, float64(i+1), false)
		q, bucket, ok := s.QuotaFor("u", "c", QuotaProducerByteRate)
		if !ok || q != float64(i+1) || bucket != buckets[i] {
			t.Fatalf("with level %d (%s): quota %v bucket %s ok %v, want %d bucket %s", i, levels[i], q, bucket, ok, i+1, buckets[i])
		}
		if _, _, ok := s.QuotaFor("u", "c", QuotaConsumerByteRate); ok {
			t.Fatal("a consumer quota from producer quotas")
		}
	}
	// Another user and client id fall through to the defaults.
	if q, bucket, _ := s.QuotaFor("v", "x", QuotaProducerByteRate); q != 5 || bucket != (QuotaEntity{QuotaNamed("v"), QuotaNamed("x")}) {
		t.Fatalf("other user: %v %s, want 5 from the default user and client id", q, bucket)
	}
	// Without user quotas, a client id quota applies to every user.
	var cs Security
	cs = cs.withQuota(QuotaEntity{none, c}, QuotaConsumerByteRate, 7, false)
	if q, bucket, _ := cs.QuotaFor("anyone", "c", QuotaConsumerByteRate); q != 7 || bucket != (QuotaEntity{none, c}) {
		t.Fatalf("client id quota: %v %s", q, bucket)
	}
}

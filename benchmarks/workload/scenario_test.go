package workload

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLoadAndSet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.toml")
	src := "name = \"x\"\npartitions_per_topic = 16\nrecord_bytes = 100\nlinger = \"5ms\"\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Partitions != 16 || s.RecordBytes != 100 || s.Linger.Std() != 5*time.Millisecond || s.Rate != 50000 {
		t.Fatalf("loaded %+v", s)
	}
	for _, kv := range []string{"rate=0", "acks=leader", "idempotent=false", "duration=3s", "compression=zstd"} {
		if err := s.Set(kv); err != nil {
			t.Fatalf("Set(%q): %v", kv, err)
		}
	}
	if s.Rate != 0 || s.Acks != AcksLeader || s.Idempotent || s.Duration.Std() != 3*time.Second || s.Compression != "zstd" {
		t.Fatalf("after overrides %+v", s)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestRejects(t *testing.T) {
	for _, kv := range []string{"bogus=1", "noequals"} {
		s := Default()
		if err := s.Set(kv); !errors.Is(err, ErrInvalid) {
			t.Errorf("Set(%q) = %v, want ErrInvalid", kv, err)
		}
	}
	for _, kv := range []string{"record_bytes=4", "acks=leader", "records=10", "compression=brotli", "key_distribution=zipf"} {
		s := Default()
		if err := s.Set(kv); err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate after %q = %v, want ErrInvalid", kv, err)
		}
	}
}

func TestStampRoundTrip(t *testing.T) {
	s := Default()
	s.KeyDistribution = KeysRoundRobin
	s.KeyCount = 2
	g := NewGenerator(&s, 1)
	now := time.Now()
	v := g.Value(now)
	if len(v) != s.RecordBytes {
		t.Fatalf("len %d", len(v))
	}
	got, ok := StampOf(v)
	if !ok || !got.Equal(time.Unix(0, now.UnixNano())) {
		t.Fatalf("stamp %v %v, want %v", got, ok, now)
	}
	if _, ok := StampOf(v[:4]); ok {
		t.Fatal("short value has a stamp")
	}
	keys := []string{string(g.Key()), string(g.Key()), string(g.Key())}
	if keys[0] != keys[2] || keys[0] == keys[1] {
		t.Fatalf("round-robin keys %q", keys)
	}
}

func TestShippedScenariosLoad(t *testing.T) {
	paths, err := filepath.Glob("../scenarios/*.toml")
	if err != nil || len(paths) < 5 {
		t.Fatalf("scenario files %v, %v", paths, err)
	}
	for _, p := range paths {
		if _, err := Load(p); err != nil {
			t.Error(err)
		}
	}
}

package segment

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseLogDirName(t *testing.T) {
	cases := []struct {
		name  string
		key   partitionKey
		valid bool
	}{
		{"orders-0", partitionKey{"orders", 0}, true},
		{"my-topic.v2-17", partitionKey{"my-topic.v2", 17}, true},
		{"a--1", partitionKey{"a-", 1}, true},
		{"-1", partitionKey{}, false},
		{"orders", partitionKey{}, false},
		{"orders-x", partitionKey{}, false},
		{"orders-", partitionKey{}, false},
	}
	for _, c := range cases {
		key, ok := parseLogDirName(c.name)
		if ok != c.valid || key != c.key {
			t.Errorf("parseLogDirName(%q) = %+v, %v", c.name, key, ok)
		}
	}
}

func TestCheckpointFiles(t *testing.T) {
	e := newEnv(t, smallConfig())
	d := e.open()
	for _, topic := range []string{"b-topic", "a.topic"} {
		l, err := d.CreateLog(topic, 1, e.cfg)
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, l, 2, 2, 1000)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(e.path, recoveryPointFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := "0\n2\na.topic 1 4\nb-topic 1 4\n"; string(got) != want {
		t.Fatalf("recovery-point checkpoint %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(e.path, cleanShutdownFile)); err != nil {
		t.Fatalf("no clean-shutdown marker: %v", err)
	}
	got, err = os.ReadFile(filepath.Join(e.path, "a.topic-1", epochCheckpointName))
	if err != nil || string(got) != "0\n1\n1 0\n" {
		t.Fatalf("leader-epoch-checkpoint %q, %v", got, err)
	}

	d = e.open()
	defer d.Close()
	if _, err := os.Stat(filepath.Join(e.path, cleanShutdownFile)); err == nil {
		t.Fatal("clean-shutdown marker kept after open")
	}
	var names []string
	d.Logs(func(topic string, p int32, l *Log) {
		names = append(names, topic)
		if l.LogEndOffset() != 4 || l.LatestEpoch() != 1 {
			t.Errorf("%s: LEO %d, epoch %d", topic, l.LogEndOffset(), l.LatestEpoch())
		}
	})
	if strings.Join(names, ",") != "a.topic,b-topic" {
		t.Fatalf("logs %v", names)
	}
}

func TestParseCheckpointRejects(t *testing.T) {
	for _, text := range []string{"", "1\n0\n", "0\n2\na 1 2\n", "0\n1\na 1\n"} {
		if _, err := parseCheckpoint(text, 3); err == nil {
			t.Errorf("parseCheckpoint(%q) accepted", text)
		}
	}
}

package e2e

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/riffle/riffle/internal/brokertest"
)

// TestKcatTransactional: kcat (librdkafka) with transactional.id produces
// its input in one transaction; read_committed reads it back.
func TestKcatTransactional(t *testing.T) {
	b := brokertest.Start(t)
	const topic = "kcat-txn"
	var in strings.Builder
	for i := range 50 {
		fmt.Fprintf(&in, "v%02d\n", i)
	}
	run(t, in.String(), "kcat", "-b", b.Addr(), "-P", "-t", topic, "-p", "0", "-X", "transactional.id=kcat-txn-1")
	out := run(t, "", "kcat", "-b", b.Addr(), "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e",
		"-X", "isolation.level=read_committed", "-f", "%s\n")
	got := strings.Fields(out)
	sort.Strings(got)
	if len(got) != 50 || got[0] != "v00" || got[49] != "v49" {
		t.Fatalf("read_committed read %d records: %q", len(got), out)
	}
}

func TestPythonConfluentKafkaTransactions(t *testing.T) {
	b := brokertest.Start(t)
	if out := run(t, "", "/usr/bin/python3", "testdata/confluent_txn.py", b.Addr()); strings.TrimSpace(out) != "ok" {
		t.Fatalf("python client: %q", out)
	}
}

func TestKafkaJSTransactions(t *testing.T) {
	b := brokertest.Start(t)
	modules, err := filepath.Abs("../tests/js/node_modules")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NODE_PATH", modules)
	if out := run(t, "", "node", "testdata/kafkajs_txn.js", b.Addr()); strings.TrimSpace(out) != "ok" {
		t.Fatalf("kafkajs client: %q", out)
	}
}

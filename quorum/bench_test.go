package quorum

import (
	"fmt"
	"testing"

	"github.com/riffle/riffle/segment/vfs"
)

// BenchmarkCreateTopic: one committed CreateTopic (3 partitions, one
// config) per op on the OS filesystem in a temp dir, fdatasync included.
func BenchmarkCreateTopic(b *testing.B) {
	n := &node{fs: vfs.OS, dir: b.TempDir()}
	ctrl, closeAll, err := n.tryOpen(self)
	if err != nil {
		b.Fatal(err)
	}
	defer closeAll()
	req := CreateTopic{Partitions: 3, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "1000"}}
	for i := 0; b.Loop(); i++ {
		req.Name = fmt.Sprintf("t%d", i)
		if _, err := ctrl.CreateTopic(req, 1, 1, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplay: Open of a metadata log holding 1000 topics of 3
// partitions with one config each (1000 changes).
func BenchmarkReplay(b *testing.B) {
	n := &node{fs: vfs.OS, dir: b.TempDir()}
	ctrl, closeAll, err := n.tryOpen(self)
	if err != nil {
		b.Fatal(err)
	}
	req := CreateTopic{Partitions: 3, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "1000"}}
	for i := range 1000 {
		req.Name = fmt.Sprintf("t%d", i)
		if _, err := ctrl.CreateTopic(req, 1, 1, false); err != nil {
			b.Fatal(err)
		}
	}
	if err := closeAll(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ctrl, closeAll, err := n.tryOpen(self)
		if err != nil {
			b.Fatal(err)
		}
		if len(ctrl.Image().Topics) != 1000 {
			b.Fatalf("%d topics", len(ctrl.Image().Topics))
		}
		if err := closeAll(); err != nil {
			b.Fatal(err)
		}
	}
}

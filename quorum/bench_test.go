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
		if ctrl.Image().TopicCount() != 1000 {
			b.Fatalf("%d topics", ctrl.Image().TopicCount())
		}
		if err := closeAll(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateTopicsGrowing commits n one-partition topics one at a time
// (up to the default per-broker limit) on the memory filesystem: the time
// per op grows as n when a create costs O(its own partitions), as n² when
// it costs O(the topics before it).
func BenchmarkCreateTopicsGrowing(b *testing.B) {
	for _, n := range []int{2000, 10000, 19000} {
		b.Run(fmt.Sprintf("topics=%d", n), func(b *testing.B) {
			for b.Loop() {
				nd := &node{fs: vfs.NewMemFS(), dir: "data"}
				ctrl, closeAll, err := nd.tryOpen(self)
				if err != nil {
					b.Fatal(err)
				}
				for i := range n {
					if _, err := ctrl.CreateTopic(CreateTopic{Name: fmt.Sprintf("t%d", i), Partitions: 1, ReplicationFactor: 1}, 1, 1, false); err != nil {
						b.Fatal(err)
					}
				}
				if err := closeAll(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

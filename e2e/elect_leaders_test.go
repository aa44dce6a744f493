package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
)

// electWait bounds a leader move or an ISR change after a kill or a
// restart: fencing takes the session timeout, rejoining the ISR a fetch
// or two; generous, the machine is shared.
const electWait = 90 * time.Second

// electPartition is partition 0 of topic in m: its leader, replicas and ISR.
func electPartition(m *kmsg.MetadataResponse, topic string) (kmsg.MetadataResponseTopicPartition, bool) {
	for _, mt := range m.Topics {
		if mt.Topic != nil && *mt.Topic == topic && len(mt.Partitions) > 0 {
			for _, p := range mt.Partitions {
				if p.Partition == 0 {
					return p, true
				}
			}
		}
	}
	return kmsg.MetadataResponseTopicPartition{}, false
}

// TestElectLeadersPreferred: on a 3-node cluster, partition 0 (RF 3) of a
// topic loses its preferred leader (replicas[0]) to kill -9; another ISR
// member leads. The broker returns and rejoins the ISR but does not lead.
// `riffle topic elect-leaders --topic T --partition 0` elects it again;
// asked again, the election is not needed; for every partition of the
// cluster, nothing needs one.
func TestElectLeadersPreferred(t *testing.T) {
	c := brokertest.StartCluster(t, 3)
	all := []int32{1, 2, 3}
	addrs := c.Addrs()
	waitViews(t, addrs, "three brokers and one controller on every node", agreedController(all, all))
	const topic = "elect"
	adm := kadm.NewClient(newClient(t, addrs[0]))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if resp, err := adm.CreateTopic(ctx, 3, 3, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, resp.Err)
	}
	var preferred int32
	waitMetadata(t, addrs[0], electWait, "partition 0 led by its first replica with a full ISR", func(m *kmsg.MetadataResponse) bool {
		p, ok := electPartition(m, topic)
		preferred = -1
		if ok && len(p.Replicas) == 3 {
			preferred = p.Replicas[0]
		}
		return ok && p.Leader == preferred && len(p.ISR) == 3
	})
	survivor := c.Node(preferred%3 + 1).Addr()
	t.Logf("killing broker %d, partition 0's preferred leader", preferred)
	c.Node(preferred).Kill()
	waitMetadata(t, survivor, electWait, "partition 0 led by another ISR member", func(m *kmsg.MetadataResponse) bool {
		p, ok := electPartition(m, topic)
		return ok && p.Leader != preferred && p.Leader >= 0 && !slices.Contains(p.ISR, preferred)
	})
	c.Node(preferred).Restart()
	waitMetadata(t, survivor, electWait, "the restarted broker back in the ISR, not leading", func(m *kmsg.MetadataResponse) bool {
		p, ok := electPartition(m, topic)
		return ok && p.Leader != preferred && slices.Contains(p.ISR, preferred)
	})

	type result struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Status    string `json:"status"`
		Error     string `json:"error"`
	}
	elect := func(args ...string) []result {
		t.Helper()
		return decodeJSON[[]result](t, ok(t, survivor, "", append([]string{"topic", "elect-leaders", "--json"}, args...)...))
	}
	if got := elect("--topic", topic, "--partition", "0"); len(got) != 1 || got[0].Status != "elected" || got[0].Partition != 0 {
		t.Fatalf("preferred election of partition 0: %+v", got)
	}
	waitMetadata(t, survivor, electWait, "partition 0 led by its preferred leader", func(m *kmsg.MetadataResponse) bool {
		p, ok := electPartition(m, topic)
		return ok && p.Leader == preferred
	})
	if got := elect("--topic", topic, "--partition", "0"); len(got) != 1 || got[0].Status != "not needed" {
		t.Errorf("second election of partition 0: %+v", got)
	}
	// The other partitions the victim led moved too; once it is back in
	// every ISR, electing all brings every one back, and then none needs it.
	waitMetadata(t, survivor, electWait, "every ISR full", func(m *kmsg.MetadataResponse) bool {
		for _, mt := range m.Topics {
			for _, p := range mt.Partitions {
				if len(p.ISR) != len(p.Replicas) {
					return false
				}
			}
		}
		return true
	})
	elect()
	waitMetadata(t, survivor, electWait, "every partition led by its first replica", func(m *kmsg.MetadataResponse) bool {
		for _, mt := range m.Topics {
			for _, p := range mt.Partitions {
				if len(p.Replicas) > 0 && p.Leader != p.Replicas[0] {
					return false
				}
			}
		}
		return true
	})
	if got := elect(); len(got) != 0 {
		t.Errorf("electing every partition once all lead: %+v", got)
	}
}

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
)

// TestDescribeBrokerConfigs asks a live broker for its configs: those the
// command line set are STATIC_BROKER_CONFIG, the rest DEFAULT_CONFIG, under
// Kafka's names; one Riffle does not honour is absent; a topic's default
// follows the broker's source; altering a broker config is refused.
func TestDescribeBrokerConfigs(t *testing.T) {
	b := brokertest.Start(t, "--set", "log.retention_ms=3600000")
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rcs, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("DescribeBrokerConfigs: %+v, %v", rcs, err)
	}
	got := map[string]kadm.Config{}
	for _, c := range rcs[0].Configs {
		got[c.Key] = c
	}
	for name, want := range map[string]struct {
		value  string
		source kmsg.ConfigSource
	}{
		"log.retention.ms":                    {"3600000", kmsg.ConfigSourceStaticBrokerConfig},
		"log.dirs":                            {b.DataDir(), kmsg.ConfigSourceStaticBrokerConfig},
		"log.segment.bytes":                   {"1073741824", kmsg.ConfigSourceDefaultConfig},
		"num.partitions":                      {"1", kmsg.ConfigSourceDefaultConfig},
		"log.flush.interval.messages":         {"9223372036854775807", kmsg.ConfigSourceDefaultConfig},
		"replica.lag.time.max.ms":             {"30000", kmsg.ConfigSourceDefaultConfig},
		"log.cleaner.backoff.ms":              {"15000", kmsg.ConfigSourceDefaultConfig},
		"log.cleaner.dedupe.buffer.size":      {"134217728", kmsg.ConfigSourceDefaultConfig},
		"log.cleaner.io.max.bytes.per.second": {"1.7976931348623157E308", kmsg.ConfigSourceDefaultConfig},
	} {
		if c := got[name]; c.MaybeValue() != want.value || c.Source != want.source {
			t.Errorf("%s: %q from %v, want %q from %v", name, c.MaybeValue(), c.Source, want.value, want.source)
		}
	}
	if c, ok := got["num.io.threads"]; ok {
		t.Errorf("num.io.threads reported (%q), a setting Riffle does not have", c.MaybeValue())
	}

	createTopic(t, cl, "cfg", 1)
	tcs, err := adm.DescribeTopicConfigs(ctx, "cfg")
	if err != nil || len(tcs) != 1 {
		t.Fatalf("DescribeTopicConfigs: %+v, %v", tcs, err)
	}
	for _, c := range tcs[0].Configs {
		switch c.Key {
		case "retention.ms":
			if c.MaybeValue() != "3600000" || c.Source != kmsg.ConfigSourceStaticBrokerConfig {
				t.Errorf("topic retention.ms: %q from %v", c.MaybeValue(), c.Source)
			}
		case "segment.bytes":
			if c.Source != kmsg.ConfigSourceDefaultConfig {
				t.Errorf("topic segment.bytes: %q from %v", c.MaybeValue(), c.Source)
			}
		}
	}

	resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.retention.ms", Value: kmsg.StringPtr("1000")}}, 1)
	if err != nil || len(resps) != 1 || resps[0].Err != kerr.InvalidRequest || resps[0].ErrMessage == "" {
		t.Errorf("AlterBrokerConfigs: %+v, %v", resps, err)
	}
}

// TestClusterWideBrokerConfigs: on a 3-node cluster, a cluster-wide
// dynamic broker config (kadm's AlterBrokerConfigs with no broker: the
// resource with an empty name) set at one node is what every node
// describes, the default of a topic created at another node, and it
// survives a restart of the whole cluster (it lives in the metadata log).
func TestClusterWideBrokerConfigs(t *testing.T) {
	c := brokertest.StartCluster(t, 3)
	addrs := c.Addrs()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admAt := func(i int) *kadm.Client { return kadm.NewClient(newClient(t, addrs[i])) }

	resps, err := admAt(0).AlterBrokerConfigs(ctx, []kadm.AlterConfig{
		{Name: "log.retention.ms", Value: kmsg.StringPtr("3600000")},
		{Name: "min.insync.replicas", Value: kmsg.StringPtr("2")},
	})
	if err != nil || len(resps) != 1 || resps[0].Err != nil {
		t.Fatalf("cluster-wide AlterBrokerConfigs: %+v, %v", resps, err)
	}
	resps, err = admAt(0).AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: kmsg.StringPtr("3")}})
	if err != nil || len(resps) != 1 || resps[0].Err != kerr.InvalidRequest {
		t.Errorf("cluster-wide num.partitions: %+v, %v", resps, err)
	}

	checkAll := func(when string) {
		t.Helper()
		for i := range addrs {
			// A node applies the change when its copy of the log commits it.
			adm := admAt(i)
			waitFor(t, time.Minute, fmt.Sprintf("%s: node %d describes the cluster-wide configs", when, i+1), func() bool {
				rcs, err := adm.DescribeBrokerConfigs(ctx)
				if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
					return false
				}
				got := map[string]kadm.Config{}
				for _, c := range rcs[0].Configs {
					got[c.Key] = c
				}
				retention := got["log.retention.ms"]
				return len(got) == 2 && retention.MaybeValue() == "3600000" &&
					got["min.insync.replicas"].Source == kmsg.ConfigSourceDynamicDefaultBrokerConfig
			})
		}
	}
	checkAll("after the change")

	cl := newClient(t, addrs[2])
	createReplicatedTopic(t, cl, "cluster-defaults", 1, 3, nil)
	tcs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, "cluster-defaults")
	if err != nil || len(tcs) != 1 {
		t.Fatalf("DescribeTopicConfigs: %+v, %v", tcs, err)
	}
	for _, cfg := range tcs[0].Configs {
		if (cfg.Key == "retention.ms" || cfg.Key == "min.insync.replicas") && cfg.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
			t.Errorf("topic %s: %q from %v, want the cluster-wide default", cfg.Key, cfg.MaybeValue(), cfg.Source)
		}
	}

	c.StopAll()
	c.StartAll()
	checkAll("after a restart")
}

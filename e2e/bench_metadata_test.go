package e2e

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
)

// BenchmarkMetadataChanges commits topic config changes (one
// IncrementalAlterConfigs each: one metadata record through raft on a
// 3-voter cluster of real processes) from clients bootstrapped at a voter
// that is not the active controller half the time, so forwarding is in the
// figures as it is for brokers. It reports changes committed per second
// and the p50/p99 latency of one change, sequentially and with 8 clients.
//
//	go test ./e2e/ -run '^$' -bench MetadataChanges -benchtime 2000x
func BenchmarkMetadataChanges(b *testing.B) {
	c := brokertest.StartCluster(b, 3)
	addrs := c.Addrs()
	createTopic(b, newClient(b, addrs[0]), "meta-bench", 1)
	for _, clients := range []int{1, 8} {
		b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) {
			adms := make([]*kadm.Client, clients)
			for i := range adms {
				adms[i] = kadm.NewClient(newClient(b, addrs[i%len(addrs)]))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			latencies := make([][]time.Duration, clients)
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for i, adm := range adms {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := i; n < b.N; n += clients {
						v := strconv.Itoa(3_600_000 + n)
						t0 := time.Now()
						resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: &v}}, "meta-bench")
						if err == nil {
							_, err = resps.On("meta-bench", nil)
						}
						if err != nil {
							b.Error(err)
							return
						}
						latencies[i] = append(latencies[i], time.Since(t0))
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			all := slices.Concat(latencies...)
			slices.Sort(all)
			if len(all) == 0 {
				return
			}
			b.ReportMetric(float64(len(all))/elapsed.Seconds(), "changes/s")
			b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkISRShrinkFailover measures a failover's metadata load: a topic
// of failoverPartitions partitions (replication factor 3,
// replica.lag.time.max.ms lagTimeMaxMs) on 3 voters, one broker that is
// not the controller killed, then the time until every partition it does
// not lead has it out of its ISR, as the surviving node's Metadata tells.
// Each of those is its own AlterPartition from the partition's leader (one
// metadata change each), unless the victim's broker session (9 s) expires
// first: fencing takes it out of every ISR in one change. It reports the
// seconds from the kill, the lag time included.
//
//	go test ./e2e/ -run '^$' -bench ISRShrinkFailover -benchtime 1x
func BenchmarkISRShrinkFailover(b *testing.B) {
	const failoverPartitions = 600
	for range b.N {
		b.StopTimer()
		c := brokertest.StartCluster(b, 3)
		addrs := c.Addrs()
		cl := newClient(b, addrs[0], kgo.SeedBrokers(addrs...))
		adm := kadm.NewClient(cl)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		lag := strconv.Itoa(lagTimeMaxMs)
		if resp, err := adm.CreateTopic(ctx, failoverPartitions, 3, map[string]*string{"replica.lag.time.max.ms": &lag}, "failover"); err != nil || resp.Err != nil {
			b.Fatal(err, resp.Err)
		}
		// The victim: a broker that is not the controller; the partitions it
		// does not lead must shrink, once all have their full ISR.
		var victim, controller int32
		var watched map[int32]bool
		for {
			m, err := nodeMetadata(ctx, addrs[0])
			if err != nil {
				b.Fatal(err)
			}
			controller, victim, watched = m.ControllerID, -1, map[int32]bool{}
			for _, id := range []int32{1, 2, 3} {
				if id != controller && victim < 0 {
					victim = id
				}
			}
			parts := failoverPartitionsOf(m)
			full := controller >= 0 && len(parts) == failoverPartitions
			for i := 0; full && i < len(parts); i++ {
				full = len(parts[i].ISR) == 3 && parts[i].Leader >= 0
				if parts[i].Leader != victim {
					watched[parts[i].Partition] = true
				}
			}
			if full {
				break
			}
			if ctx.Err() != nil {
				b.Fatal("no full ISR on every partition")
			}
			time.Sleep(100 * time.Millisecond) // polling a remote condition
		}
		survivor := addrs[controller-1]
		b.StartTimer()
		killed := time.Now()
		c.Node(victim).Kill()
		for {
			m, err := nodeMetadata(ctx, survivor)
			if err != nil {
				b.Fatal(err)
			}
			shrunk := 0
			for _, p := range failoverPartitionsOf(m) {
				if watched[p.Partition] && !slices.Contains(p.ISR, victim) {
					shrunk++
				}
			}
			if shrunk >= len(watched) {
				break
			}
			if ctx.Err() != nil {
				b.Fatalf("%d of %d ISRs shrunk", shrunk, len(watched))
			}
			time.Sleep(20 * time.Millisecond) // polling a remote condition
		}
		all := time.Since(killed)
		b.StopTimer()
		cancel()
		b.ReportMetric(all.Seconds(), "s-all-shrunk")
	}
}

// failoverPartitionsOf returns topic failover's partitions in m.
func failoverPartitionsOf(m *kmsg.MetadataResponse) []kmsg.MetadataResponseTopicPartition {
	for _, t := range m.Topics {
		if t.Topic != nil && *t.Topic == "failover" {
			return t.Partitions
		}
	}
	return nil
}

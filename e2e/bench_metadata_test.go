package e2e

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

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

package replicas

import (
	"io"
	"strconv"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/quorum"
)

// counters are the replication events counted as they happen.
type counters struct {
	isrShrinks, isrExpands atomic.Uint64 // committed ISR changes this broker proposed
	fetchBytes             atomic.Uint64 // record bytes appended as a follower
}

// WriteMetrics writes the replication metrics (Prometheus text): partitions
// this broker leads whose ISR lacks a replica, ISR shrinks and expands,
// bytes fetched as a follower, and each followed partition's lag behind
// its leader's HW in offsets as of the last fetch; on the active
// controller, the partitions without a leader and those being reassigned.
func (m *Manager) WriteMetrics(w io.Writer) {
	im := m.opts.Metadata.Image()
	m.mu.RLock()
	defer m.mu.RUnlock()
	var under uint64
	for tp := range m.parts {
		if t := im.Topic(tp.topic); t != nil && int(tp.partition) < len(t.Partitions) {
			mp := t.Partitions[tp.partition]
			// Replicas a reassignment is adding do not count (Kafka's
			// replication factor of a reassigning partition).
			if mp.Leader == int32(m.opts.NodeID) && len(mp.ISR) < len(mp.Replicas)-len(mp.Adding) {
				under++
			}
		}
	}
	metrics.WriteGaugeUint64(w, "riffle_under_replicated_partitions", under)
	metrics.WriteGaugeUint64(w, "riffle_offline_partitions", controllerCount(im, m.opts.NodeID, func(p quorum.Partition) bool { return p.Leader < 0 }))
	metrics.WriteGaugeUint64(w, "riffle_reassigning_partitions", controllerCount(im, m.opts.NodeID, quorum.Partition.Reassigning))
	metrics.WriteCounterUint64(w, "riffle_isr_shrinks_total", m.metrics.isrShrinks.Load())
	metrics.WriteCounterUint64(w, "riffle_isr_expands_total", m.metrics.isrExpands.Load())
	metrics.WriteCounterUint64(w, "riffle_replica_fetch_bytes_total", m.metrics.fetchBytes.Load())
	for _, f := range m.fetchers {
		f.mu.Lock()
		for tp, fp := range f.parts {
			// Topic names are [a-zA-Z0-9._-]: nothing to escape.
			labels := `{topic="` + tp.topic + `",partition="` + strconv.Itoa(int(tp.partition)) + `"}`
			metrics.WriteGaugeUint64(w, "riffle_partition_follower_lag_offsets"+labels, uint64(fp.lag))
		}
		f.mu.Unlock()
	}
}

// controllerCount counts the partitions of im that count accepts when node
// is the active controller, and is 0 elsewhere: as Kafka's
// OfflinePartitionsCount, one broker reports the cluster's count, so that
// a sum over brokers counts each partition once.
func controllerCount(im *quorum.Image, node ids.NodeID, count func(quorum.Partition) bool) uint64 {
	if im.ControllerID != int32(node) {
		return 0
	}
	var n uint64
	for t := range im.Topics() {
		for _, p := range t.Partitions {
			if count(p) {
				n++
			}
		}
	}
	return n
}

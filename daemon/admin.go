package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
)

// adminServer is the operator's HTTP listener (broker.admin_listen), kept
// apart from the Kafka listener: /metrics in Prometheus text format,
// /healthz (the process answers), /readyz (recovered and serving) and,
// with broker.admin_pprof, /debug/pprof; TLS and a bearer token as
// adminsecurity.go sets up.
type adminServer struct {
	srv   *http.Server
	ln    net.Listener
	ready atomic.Bool
	log   *slog.Logger
	// stopTLS stops the certificate watcher (admin_tls); nil without.
	stopTLS context.CancelFunc
}

// startAdmin serves b's metrics: b.metrics, which must be set, and what
// writeMetrics reads at scrape time.
func startAdmin(cfg Config, b *broker, log *slog.Logger) (*adminServer, error) {
	addr := cfg.Broker.AdminListen
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener %s: %w", addr, err)
	}
	a := &adminServer{ln: ln, log: log}
	guard, err := a.protect(cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	set := b.metrics.set
	set.RegisterMetricsWriter(func(w io.Writer) {
		// The broker's parts are wired once ready is set; before that,
		// during recovery, only the event metrics (flushes) and process
		// metrics are served.
		if a.ready.Load() {
			b.writeMetrics(w)
		}
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		set.WritePrometheus(w)
		metrics.WriteProcessMetrics(w)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		if err := b.server.Accepting(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	if cfg.Broker.AdminPprof {
		// Profiles for operators chasing CPU or memory (go tool pprof).
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		// Execution traces show who waited for a P and why (go tool trace).
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	a.srv = &http.Server{Handler: guard(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := a.srv.Serve(a.ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin listener stopped", "err", err)
		}
	}()
	return a, nil
}

func (a *adminServer) Addr() net.Addr { return a.ln.Addr() }

func (a *adminServer) shutdown(ctx context.Context) error {
	a.ready.Store(false)
	if a.stopTLS != nil {
		a.stopTLS()
	}
	return a.srv.Shutdown(ctx)
}

// writeMetrics writes the values read at scrape time: network counters,
// storage recovery, every hosted partition's offsets, size and traffic,
// replication (the replica manager's), and the committed offsets and lag
// of the groups this broker coordinates.
func (b *broker) writeMetrics(w io.Writer) {
	st := b.netStats()
	metrics.WriteGaugeUint64(w, "riffle_netio_connections", uint64(st.Connections))
	metrics.WriteCounterUint64(w, "riffle_netio_sendfile_bytes_total", uint64(st.BytesSendfile))
	metrics.WriteCounterUint64(w, "riffle_netio_copied_bytes_total", uint64(st.BytesCopied))
	metrics.WriteCounterUint64(w, "riffle_netio_written_bytes_total", uint64(st.BytesWritten))
	metrics.WriteCounterUint64(w, "riffle_netio_write_stalls_total", uint64(st.WriteStalls))
	metrics.WriteCounterUint64(w, "riffle_netio_sends_total", uint64(st.Sends))
	metrics.WriteCounterFloat64(w, "riffle_netio_event_loop_busy_seconds_total", st.EventLoopBusy.Seconds())
	metrics.WriteCounterUint64(w, "riffle_netio_accept_errors_total", uint64(st.AcceptErrors))
	metrics.WriteCounterUint64(w, "riffle_netio_refused_connections_total", uint64(st.Refused))
	metrics.WriteGaugeUint64(w, "riffle_netio_request_bytes", uint64(max(st.RequestBytes, 0)))
	metrics.WriteGaugeFloat64(w, "riffle_storage_recovery_seconds", b.dataDir.RecoveryDuration().Seconds())
	if free, total, err := b.lock.diskSpace(); err == nil {
		metrics.WriteGaugeUint64(w, "riffle_storage_disk_free_bytes", free)
		metrics.WriteGaugeUint64(w, "riffle_storage_disk_total_bytes", total)
	} else {
		b.log.Warn("metrics: data dir disk space", "err", err)
	}
	hosted := map[*replica.Partition]bool{}
	b.parts.Each(func(topic string, partition int32, p *replica.Partition) {
		hosted[p] = true
		labels := `{topic="` + labelValue(topic) + `",partition="` + strconv.Itoa(int(partition)) + `"}`
		l := p.Log()
		metrics.WriteGaugeUint64(w, "riffle_partition_log_start_offset"+labels, uint64(l.LogStartOffset()))
		metrics.WriteGaugeUint64(w, "riffle_partition_log_end_offset"+labels, uint64(l.LogEndOffset()))
		metrics.WriteGaugeUint64(w, "riffle_partition_high_watermark"+labels, uint64(p.HighWatermark()))
		metrics.WriteGaugeUint64(w, "riffle_partition_lso_lag_offsets"+labels, uint64(max(p.HighWatermark()-p.LastStableOffset(), 0)))
		metrics.WriteGaugeUint64(w, "riffle_partition_size_bytes"+labels, uint64(l.SizeBytes()))
		metrics.WriteGaugeUint64(w, "riffle_partition_segments"+labels, uint64(l.SegmentCount()))
		b.metrics.writePartitionTraffic(w, p, labels)
	})
	b.metrics.forgetPartitionsExcept(hosted)
	b.writeCleanerMetrics(w)
	b.parts.WriteMetrics(w)
	b.writeGroupMetrics(w)
	b.writeTxnMetrics(w)
}

// writeCleanerMetrics writes the log cleaner's totals and, per compacted
// log, its dirty ratio and the time since its last clean (since the
// broker started when not cleaned since).
func (b *broker) writeCleanerMetrics(w io.Writer) {
	if b.cleaner == nil {
		return
	}
	st := b.cleaner.Stats()
	metrics.WriteCounterUint64(w, "riffle_cleaner_runs_total", uint64(st.Runs))
	metrics.WriteCounterUint64(w, "riffle_cleaner_errors_total", uint64(st.Errors))
	metrics.WriteCounterUint64(w, "riffle_cleaner_read_bytes_total", uint64(st.BytesRead))
	metrics.WriteCounterUint64(w, "riffle_cleaner_written_bytes_total", uint64(st.BytesWritten))
	now := time.Now()
	b.cleaner.LogStates(func(s segment.CleanerLogState) {
		labels := `{topic="` + labelValue(s.Topic) + `",partition="` + strconv.Itoa(int(s.Partition)) + `"}`
		metrics.WriteGaugeFloat64(w, "riffle_cleaner_dirty_ratio"+labels, s.DirtyRatio)
		since := now.Sub(b.started)
		if s.LastCleanMs > 0 {
			since = now.Sub(time.UnixMilli(s.LastCleanMs))
		}
		metrics.WriteGaugeFloat64(w, "riffle_cleaner_seconds_since_last_clean"+labels, since.Seconds())
	})
}

// writeGroupMetrics writes each group's committed offset per partition and
// its lag: the partition's high watermark minus the committed offset (0
// when the commit is at or past it), for partitions hosted here. A
// partition a group's members subscribe to but that has no commit yet has
// a lag of all its records (high watermark minus log start, what a member
// starting from the earliest offset reads), so that a new group shows
// before its first commit. Commits to partitions the metadata no longer
// has (a deleted topic) are left out: the coordinator keeps them, but
// their series would never change again.
func (b *broker) writeGroupMetrics(w io.Writer) {
	image := b.ctrl.Image()
	type groupPartition struct {
		group, topic string
		partition    int32
	}
	committed := map[groupPartition]bool{}
	for _, c := range b.groups.CommittedOffsets() {
		if t := image.Topic(c.Topic); t == nil || int(c.Partition) >= len(t.Partitions) {
			continue
		}
		committed[groupPartition{c.Group, c.Topic, c.Partition}] = true
		labels := groupLabels(c.Group, c.Topic, c.Partition)
		metrics.WriteGaugeUint64(w, "riffle_group_committed_offset"+labels, uint64(max(c.Offset, 0)))
		if p := b.parts.Partition(c.Topic, c.Partition); p != nil {
			metrics.WriteGaugeUint64(w, "riffle_group_lag"+labels, uint64(max(p.HighWatermark()-c.Offset, 0)))
		}
	}
	for _, s := range b.groups.Subscriptions() {
		t := image.Topic(s.Topic)
		if t == nil {
			continue
		}
		for i := range t.Partitions {
			partition := int32(i)
			p := b.parts.Partition(s.Topic, partition)
			if p == nil || committed[groupPartition{s.Group, s.Topic, partition}] {
				continue
			}
			lag := p.HighWatermark() - p.Log().LogStartOffset()
			metrics.WriteGaugeUint64(w, "riffle_group_lag"+groupLabels(s.Group, s.Topic, partition), uint64(max(lag, 0)))
		}
	}
}

// groupLabels are the labels of a group's series for one partition.
func groupLabels(group, topic string, partition int32) string {
	return `{group="` + labelValue(group) + `",topic="` + labelValue(topic) + `",partition="` + strconv.Itoa(int(partition)) + `"}`
}

package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/riffle/riffle/daemon/group"
	"github.com/riffle/riffle/daemon/kafka"
	"github.com/riffle/riffle/netio"
	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
)

// tickInterval paces the logs' time-driven work; flush.ms and segment.ms
// are honoured to this precision.
const tickInterval = time.Second

// Main runs a broker until ctx ends, then shuts it down gracefully, and
// returns the process exit code: 0, 1 for a failure while running, or
// ExitUsage for a bad command line or configuration.
func Main(ctx context.Context, args []string) int {
	cfg, err := ParseArgs(args, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		return ExitUsage
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel()}))
	b, err := start(cfg, logger)
	if err != nil {
		logger.Error("riffle: cannot start", "err", err)
		return 1
	}
	<-ctx.Done()
	b.sd.stopping()
	logger.Info("riffle: shutting down")
	if err := b.stop(cfg.ShutdownTimeout()); err != nil {
		logger.Error("riffle: unclean shutdown", "err", err)
		return 1
	}
	logger.Info("riffle: stopped")
	return 0
}

// broker is the running process: storage, metadata, replicas, listener.
type broker struct {
	log      *slog.Logger
	dataDir  *segment.DataDir
	ctrl     *quorum.Controller
	parts    *partitionSet
	server   *netio.Server
	groups   *group.Coordinator
	admin    *adminServer   // nil when broker.admin_listen is empty
	metrics  *brokerMetrics // nil when broker.admin_listen is empty
	sd       *systemd       // start-up, watchdog and stop notifications
	tickStop chan struct{}
	tickDone chan struct{}
}

func start(cfg Config, log *slog.Logger) (b *broker, err error) {
	b = &broker{log: log, sd: newSystemd(log), tickStop: make(chan struct{}), tickDone: make(chan struct{})}
	defer func() {
		if err != nil {
			b.closeStorage()
		}
	}()
	// The admin listener comes first so /healthz answers during recovery.
	segOpts := segment.Options{Logger: log, OpenFilesMax: int64(cfg.Log.OpenFilesMax)}
	if cfg.Broker.AdminListen != "" {
		b.metrics = newBrokerMetrics()
		segOpts.OnSync = b.metrics.onSync
		if b.admin, err = startAdmin(cfg.Broker.AdminListen, b, log); err != nil {
			return nil, err
		}
	}
	defaults, err := cfg.topicSegmentConfig(nil)
	if err != nil {
		return nil, err
	}
	recovered := b.sd.recovering(cfg.Broker.DataDir)
	b.dataDir, err = segment.OpenDataDir(cfg.Broker.DataDir, func(topic string) segment.Config {
		// Topic overrides are applied once the metadata is read.
		if topic == metadataTopic {
			return quorum.MetadataLogConfig(defaults)
		}
		return defaults
	}, segOpts)
	recovered()
	if err != nil {
		return nil, err
	}
	log.Info("riffle: storage recovered", "data_dir", cfg.Broker.DataDir, "took", b.dataDir.RecoveryDuration())

	// The listener binds first so that the advertised port is known (port
	// 0 picks one); requests wait until the broker is wired up.
	handler := &pendingHandler{ready: make(chan struct{})}
	if b.server, err = netio.Listen(cfg.Netio(log), handler); err != nil {
		return nil, err
	}
	b.sd.status("loading metadata")
	if err := b.openMetadata(cfg, defaults); err != nil {
		return nil, err
	}
	if b.groups, err = group.Open(groupOptions(cfg, b.ctrl, b.parts, log)); err != nil {
		return nil, err
	}
	kcfg := kafkaConfig(cfg, log)
	kcfg.Groups = b.groups
	if b.metrics != nil { // not a nil *brokerMetrics in the interface
		kcfg.Observer = b.metrics
	}
	handler.broker = kafka.New(kcfg, b.ctrl, b.parts)
	close(handler.ready)
	go b.tickLoop()

	addrs := []string{b.server.Addr().String()}
	if b.admin != nil {
		b.admin.ready.Store(true)
		addrs = append(addrs, b.admin.Addr().String())
	}
	log.Info("riffle: serving", "listen", addrs[0], "node_id", cfg.Broker.NodeID, "cluster_id", b.ctrl.Image().ClusterID)
	if cfg.Broker.ReadyFile != "" {
		if err := WriteReadyFile(cfg.Broker.ReadyFile, addrs...); err != nil {
			return nil, err
		}
	}
	b.sd.ready(addrs[0], (&healthProbe{server: b.server, maxConnections: cfg.Network.MaxConnections,
		dataDir: cfg.Broker.DataDir, logsFailed: b.dataDir.Failed}).check)
	return b, nil
}

// openMetadata opens the metadata log and controller and the replicas the
// metadata assigns to this broker.
func (b *broker) openMetadata(cfg Config, defaults segment.Config) error {
	mlog, err := b.dataDir.CreateLog(metadataTopic, 0, quorum.MetadataLogConfig(defaults))
	if err != nil {
		return err
	}
	_, portText, err := net.SplitHostPort(b.server.Addr().String())
	if err != nil {
		return fmt.Errorf("listener address: %w", err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("listener port %q: %w", portText, err)
	}
	b.ctrl, err = quorum.Open(mlog, quorum.Options{
		NodeID:              cfg.Broker.NodeID,
		TopicPartitionsMax:  cfg.Topics.PartitionsMax,
		BrokerPartitionsMax: cfg.Topics.MaxPartitionsPerBroker,
		TopicsMax:           cfg.Topics.MaxTopics,
		Broker:              quorum.Broker{ID: cfg.Broker.NodeID, Host: cfg.AdvertisedHost(), Port: int32(port)},
		ValidateTopicConfig: quorum.ValidateTopicConfig,
		Logger:              b.log,
	})
	if err != nil {
		return err
	}
	b.parts = &partitionSet{
		dataDir: b.dataDir,
		nodeID:  cfg.Broker.NodeID,
		topicConfig: func(t *quorum.Topic) (partitionConfig, error) {
			return cfg.partitionConfig(t.Configs)
		},
		log:   b.log,
		parts: map[topicPartition]*replica.Partition{},
		ids:   map[string][16]byte{},
	}
	b.ctrl.OnChange(b.parts.applyChange)
	b.parts.apply(b.ctrl.Image())
	return nil
}

func (b *broker) tickLoop() {
	defer close(b.tickDone)
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		select {
		case <-b.tickStop:
			return
		case <-t.C:
			b.parts.tick()
		}
	}
}

// stop shuts down in order: stop accepting and finish in-flight requests,
// stop maintenance, snapshot producer state, then flush and close the logs
// and write the clean-shutdown marker.
func (b *broker) stop(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	if b.admin != nil {
		errs = append(errs, b.admin.shutdown(ctx))
	}
	// Requests waiting for a rebalance are answered first, so that the
	// drain below does not wait for them.
	b.groups.Close()
	errs = append(errs, b.server.Shutdown(ctx))
	close(b.tickStop)
	<-b.tickDone
	errs = append(errs, b.parts.close(), b.closeStorage())
	return errors.Join(errs...)
}

// closeStorage closes what start opened, in reverse order.
func (b *broker) closeStorage() error {
	var errs []error
	if b.ctrl != nil {
		errs = append(errs, b.ctrl.Close())
	}
	if b.dataDir != nil {
		errs = append(errs, b.dataDir.Close())
	}
	return errors.Join(errs...)
}

// pendingHandler holds requests that arrive while the broker is still being
// wired up, then hands them to the Kafka layer.
type pendingHandler struct {
	ready  chan struct{}
	broker *kafka.Broker // set before ready is closed
}

func (h *pendingHandler) ServeFrame(ctx context.Context, c *netio.Conn, frame []byte) ([]netio.Piece, error) {
	select {
	case <-h.ready:
		return h.broker.ServeFrame(ctx, c, frame)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// kafkaConfig is what the Kafka layer needs of the configuration.
func kafkaConfig(cfg Config, log *slog.Logger) kafka.Config {
	return kafka.Config{
		NodeID:                   cfg.Broker.NodeID,
		AutoCreateTopics:         cfg.Topics.AutoCreate,
		DefaultPartitions:        cfg.Topics.DefaultPartitions,
		DefaultReplicationFactor: cfg.Topics.DefaultReplicationFactor,
		AutoCreateRatePerSec:     int(cfg.Topics.AutoCreateRatePerSec),
		AutoCreatePerRequestMax:  int(cfg.Topics.MaxAutoCreatePerRequest),
		PartitionsPerRequestMax:  int(cfg.Topics.MaxPartitionsPerRequest),
		CompressionValidation:    cfg.Log.CompressionValidation,
		TopicDefaults:            cfg.TopicDefaults(),
		FetchWaitMsMax:           cfg.Fetch.MaxWaitMsMax,
		FetchBytesMax:            cfg.Fetch.MaxBytes,
		FetchSessionsMax:         cfg.Fetch.FetchSessionsMax,
		Logger:                   log,
	}
}

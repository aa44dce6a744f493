package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/riffle/riffle/daemon/auth"
	"github.com/riffle/riffle/daemon/group"
	"github.com/riffle/riffle/daemon/kafka"
	"github.com/riffle/riffle/daemon/replicas"
	"github.com/riffle/riffle/daemon/txn"
	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/netio"
	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/segment"
)

// tickInterval paces the logs' time-driven work; segment.ms and
// retention are honoured to this precision. flushTickInterval paces
// flush.ms's checks, so that each fdatasync carries about flush.ms of data.
const (
	tickInterval      = time.Second
	flushTickInterval = 100 * time.Millisecond
)

// Main runs a broker until ctx ends, then shuts it down gracefully, and
// returns the process exit code: 0, 1 for a failure while running,
// ExitUsage for a bad command line or configuration, ExitListen or
// ExitDataDir for a start-up failure of a listener or the data directory.
// A start-up failure is one line on stderr naming the cause.
func Main(ctx context.Context, args []string) int {
	cfg, err := ParseArgs(args, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errVersion):
		fmt.Println(Version())
		return 0
	case err != nil:
		return ExitUsage
	}
	limiter := newRateLimitHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel()}),
		logBurst, logInterval, realClock{})
	logger := slog.New(limiter)
	build := readBuildInfo()
	logger.Info("riffle: starting", "version", build.version, "commit", build.commit, "go", build.goVersion, "pid", os.Getpid())
	raiseFileLimit(logger)
	setMemoryLimit(cfg.Broker.MemoryLimitBytes, logger)
	b, err := start(ctx, cfg, logger, limiter)
	if errors.Is(err, errStoppedWaiting) {
		logger.Info("riffle: stopped before the metadata quorum answered")
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "riffle: cannot start: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		var se *startError
		if errors.As(err, &se) {
			return se.code
		}
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

// setMemoryLimit applies broker.memory_limit_bytes as the Go runtime's soft
// memory limit; 0 leaves the runtime's own (GOMEMLIMIT, else none).
func setMemoryLimit(limit int64, log *slog.Logger) {
	if limit == 0 {
		return
	}
	debug.SetMemoryLimit(limit)
	log.Info("riffle: soft memory limit", "bytes", limit)
}

// startError is a start-up failure with its own exit code.
type startError struct {
	code int // ExitListen or ExitDataDir
	err  error
}

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// listenError is an ExitListen failure naming the listener and, when the
// cause is a system error, only that: "listen 127.0.0.1:9092: address
// already in use".
func listenError(name, addr string, err error) error {
	return &startError{code: ExitListen, err: fmt.Errorf("%s %s: %w", name, addr, errnoOnly(err))}
}

// broker is the running process: storage, metadata, replicas, listener.
// stop closes whatever start got to, so it also undoes a failed start.
type broker struct {
	log     *slog.Logger
	lock    *dirLock // the data directory's, released last
	dataDir *segment.DataDir
	ctrl    *quorum.Controller
	parts   *replicas.Manager
	handler *pendingHandler
	server  *netio.Server // the inter-broker listener's, listeners[0]
	// listeners are the Kafka listeners, the inter-broker one first;
	// bound is their protocols and advertised endpoints.
	listeners []kafkaListener
	bound     map[string]auth.Bound
	self      auth.Endpoint      // the inter-broker listener's, registered in the quorum
	stopTLS   context.CancelFunc // stops the TLS reloaders; nil without TLS
	tls       *auth.TLSSource    // nil without TLS
	groups    *group.Coordinator
	cleaner   *segment.Cleaner // nil when log.cleaner_enable is false
	started   time.Time        // for the cleaner's time since a clean before the first
	txns      *txn.Coordinator
	markers   *markerClient
	admin     *adminServer   // nil when broker.admin_listen is empty
	metrics   *brokerMetrics // nil when broker.admin_listen is empty
	sd        *systemd       // start-up, watchdog and stop notifications
	ticking   bool           // tickLoop runs
	tickStop  chan struct{}
	tickDone  chan struct{}
	// heartbeatDone closes once heartbeatLoop, run by a cluster node,
	// returned; nil on a single node.
	heartbeatDone chan struct{}
	nodeID        int32
	// lease is renewed by heartbeatLoop; nil on a single node, whose
	// coordinators need none.
	lease *controllerLease
	// interBroker is how this node connects to other brokers' listeners.
	interBroker interBroker
}

// start brings the broker up. limiter starts limiting once the broker
// serves: start-up logs once per log or partition, bounded by what is on
// disk, and each of those lines names a different one. A cluster node
// waits for the metadata quorum until ctx ends (errStoppedWaiting).
func start(ctx context.Context, cfg Config, log *slog.Logger, limiter *rateLimitHandler) (_ *broker, err error) {
	b := &broker{log: log, sd: newSystemd(log), started: time.Now(), tickStop: make(chan struct{}), tickDone: make(chan struct{}),
		handler: &pendingHandler{ready: make(chan struct{})}}
	defer func() {
		if err == nil {
			return
		}
		if cerr := b.stop(cfg.ShutdownTimeout()); cerr != nil {
			log.Warn("riffle: cleaning up after a failed start", "err", cerr)
		}
	}()
	// Before anything else: a second broker on this directory must not
	// even bind the first one's admin port.
	if b.lock, err = lockDataDir(cfg.Broker.DataDir); err != nil {
		return nil, err
	}
	// The admin listener comes next so /healthz answers during recovery.
	segOpts := segment.Options{Logger: log, OpenFilesMax: int64(cfg.SegmentFilesMax())}
	if cfg.Broker.AdminListen != "" {
		b.metrics = newBrokerMetrics()
		segOpts.OnSync = b.metrics.onSync
		if b.admin, err = startAdmin(cfg, b, log); err != nil {
			return nil, listenError("admin listen", cfg.Broker.AdminListen, err)
		}
	}
	defaults, err := cfg.topicSegmentConfig(nil, nil)
	if err != nil {
		return nil, err
	}
	recovered := b.sd.recovering(cfg.Broker.DataDir)
	b.dataDir, err = segment.OpenDataDir(cfg.Broker.DataDir, func(topic string) segment.Config {
		// Topic overrides are applied once the metadata is read.
		if topic == quorum.MetadataTopic {
			return quorum.MetadataLogConfig(defaults)
		}
		return defaults
	}, segOpts)
	recovered()
	if err != nil {
		return nil, &startError{code: ExitDataDir, err: err}
	}
	log.Info("riffle: storage recovered", "data_dir", cfg.Broker.DataDir, "took", b.dataDir.RecoveryDuration())

	// The listener binds first so that the advertised port is known (port
	// 0 picks one); requests wait until the broker is wired up.
	if err = b.startTLS(cfg); err != nil {
		return nil, err
	}
	if err = b.startListeners(cfg); err != nil {
		return nil, err
	}
	if b.bound, err = b.boundListeners(cfg); err != nil {
		return nil, err
	}
	b.self = b.bound[b.listeners[0].Name].Endpoint
	b.sd.status("loading metadata")
	if err := b.openMetadata(cfg, defaults); err != nil {
		return nil, err
	}
	if err := b.joinQuorum(ctx, cfg); err != nil {
		return nil, err
	}
	if err := b.ensureInterBrokerUser(cfg); err != nil {
		// Replication retries; an administrator can still create the user.
		log.Warn("riffle: inter-broker user", "err", err)
	}
	if cfg.Log.CleanerEnable {
		if b.cleaner, err = b.dataDir.NewCleaner(cfg.cleanerConfig(), b.cleanerPartition); err != nil {
			return nil, err
		}
		b.cleaner.Start()
	}
	gopts := groupOptions(cfg, b.ctrl, b.parts, log)
	b.markers = newMarkerClient(b.self.Host, b.self.Port, b.interBroker.kgoOpts())
	topts := txnOptions(cfg, b.ctrl, b.parts, b.markers.send, log)
	if cfg.Voters() != nil {
		b.lease = newControllerLease(time.Duration(cfg.Cluster.BrokerSessionTimeoutMs) * time.Millisecond)
		gopts.LeaseHeld, topts.LeaseHeld = b.lease.held, b.lease.held
	}
	if b.groups, err = group.Open(gopts); err != nil {
		return nil, err
	}
	if b.txns, err = txn.Open(topts); err != nil {
		return nil, err
	}
	kcfg := kafkaConfig(cfg, log)
	kcfg.Listeners = b.bound
	kcfg.SASLMechanisms, kcfg.ReauthMs = cfg.saslMechanisms(), cfg.Security.ConnectionsMaxReauthMs
	kcfg.Authorizer = cfg.authorizer()
	kcfg.QuotaWindowNum = cfg.Security.QuotaWindowNum
	kcfg.QuotaWindowSize = time.Duration(cfg.Security.QuotaWindowSizeSeconds) * time.Second
	kcfg.Groups = b.groups
	kcfg.Txns = b.txns
	kcfg.Quorum = b.ctrl.Quorum
	if b.metrics != nil { // not a nil *brokerMetrics in the interface
		kcfg.Observer = b.metrics
	}
	b.handler.open(kafka.New(kcfg, b.ctrl, b.parts))

	addrs := []string{b.server.Addr().String()}
	adminAddr := "off"
	if b.admin != nil {
		b.admin.ready.Store(true)
		adminAddr = b.admin.Addr().String()
		addrs = append(addrs, adminAddr)
	}
	for _, l := range b.listeners[1:] {
		addrs = append(addrs, l.server.Addr().String())
	}
	if cfg.Broker.ReadyFile != "" {
		if err := WriteReadyFile(cfg.Broker.ReadyFile, addrs...); err != nil {
			return nil, err
		}
	}
	b.ticking = true
	go b.tickLoop()
	if cfg.Voters() != nil {
		b.heartbeatDone, b.nodeID = make(chan struct{}), cfg.Broker.NodeID
		go b.heartbeatLoop()
	}
	log.Info("riffle: serving", "listen", addrs[0], "admin_listen", adminAddr,
		"node_id", cfg.Broker.NodeID, "cluster_id", b.ctrl.Image().ClusterID)
	limiter.start()
	b.sd.ready(addrs[0], (&healthProbe{server: b.server, dataDir: cfg.Broker.DataDir,
		logsFailed: b.dataDir.Failed}).check)
	return b, nil
}

// openMetadata opens the metadata log and controller and the replicas the
// metadata assigns to this broker.
func (b *broker) openMetadata(cfg Config, defaults segment.Config) error {
	mlog, err := b.dataDir.CreateLog(quorum.MetadataTopic, 0, quorum.MetadataLogConfig(defaults))
	if err != nil {
		return err
	}
	opts := quorum.Options{
		NodeID:              cfg.Broker.NodeID,
		TopicPartitionsMax:  cfg.Topics.PartitionsMax,
		BrokerPartitionsMax: cfg.Topics.MaxPartitionsPerBroker,
		TopicsMax:           cfg.Topics.MaxTopics,
		Broker:              quorum.Broker{ID: cfg.Broker.NodeID, Host: b.self.Host, Port: b.self.Port, Rack: cfg.Broker.Rack},
		ValidateTopicConfig: quorum.ValidateTopicConfig,
		Logger:              b.log,
	}
	if b.ctrl, err = openController(cfg, mlog, opts, b.tls); err != nil {
		return err
	}
	b.parts = replicas.New(replicas.Options{
		DataDir:  b.dataDir,
		NodeID:   ids.NodeID(cfg.Broker.NodeID),
		Metadata: b.ctrl,
		ISR:      b.ctrl,
		TopicConfig: func(im *quorum.Image, t *quorum.Topic) (replicas.TopicConfig, error) {
			return cfg.partitionConfig(im.ClusterConfigs, t.Configs)
		},
		Fetch:                cfg.replicaFetchConfig(),
		Dial:                 b.interBroker.dialer.Dial,
		SASL:                 b.interBroker.mech,
		HWCheckpointInterval: time.Duration(cfg.Replication.ReplicaHWCheckpointIntervalMs) * time.Millisecond,
		Logger:               b.log,
	})
	return nil
}

func (b *broker) tickLoop() {
	defer close(b.tickDone)
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	flush := time.NewTicker(flushTickInterval)
	defer flush.Stop()
	idle := idleMemory{lastAllocs: readHeap().allocs}
	for {
		select {
		case <-b.tickStop:
			return
		case <-t.C:
			b.parts.Tick()
			idle.returnIdleMemory()
		case <-flush.C:
			b.parts.FlushDue()
		}
	}
}

// stop shuts down in order: stop accepting and finish in-flight requests,
// stop maintenance, snapshot producer state, then flush and close the logs,
// write the clean-shutdown marker and release the data directory. It skips
// what a failed start never opened.
func (b *broker) stop(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	if b.heartbeatDone != nil {
		b.controlledShutdown()
	}
	if b.admin != nil {
		errs = append(errs, b.admin.shutdown(ctx))
	}
	// Requests waiting for a rebalance are answered first, so that the
	// drain below does not wait for them.
	if b.groups != nil {
		b.groups.Close()
	}
	if b.txns != nil {
		b.txns.Close()
	}
	if b.markers != nil {
		b.markers.close()
	}
	b.handler.open(nil) // after a failed start, waiting requests fail now
	errs = append(errs, b.shutdownListeners(ctx))
	if b.ticking {
		close(b.tickStop)
		<-b.tickDone
	}
	if b.cleaner != nil {
		b.cleaner.Close()
	}
	if b.parts != nil {
		errs = append(errs, b.parts.Close())
	}
	if b.ctrl != nil {
		errs = append(errs, b.ctrl.Close())
	}
	if b.heartbeatDone != nil {
		<-b.heartbeatDone // a heartbeat under way fails once the controller is closed
	}
	if b.dataDir != nil {
		errs = append(errs, b.dataDir.Close())
	}
	if b.lock != nil {
		errs = append(errs, b.lock.release())
	}
	return errors.Join(errs...)
}

// cleanerPartition is a hosted partition as the log cleaner sees it (its
// last stable offset and aborted transactions), as leader or follower.
func (b *broker) cleanerPartition(topic string, partition int32) (segment.CleanerPartition, bool) {
	p := b.parts.Partition(topic, partition)
	if p == nil {
		return nil, false
	}
	return p, true
}

// cleanerConfig is the log cleaner's part of [log].
func (c *Config) cleanerConfig() segment.CleanerConfig {
	return segment.CleanerConfig{
		Threads:           c.Log.CleanerThreads,
		DedupeBufferBytes: c.Log.CleanerDedupeBufferSize,
		IOBytesPerSecond:  c.Log.CleanerIOMaxBytesPerSecond,
		BackoffMs:         c.Log.CleanerBackoffMs,
	}
}

// pendingHandler holds requests that arrive while the broker is still being
// wired up, then hands them to the Kafka layer.
type pendingHandler struct {
	once   sync.Once
	ready  chan struct{}
	broker *kafka.Broker // set before ready is closed; nil if start failed
}

// open lets waiting and later requests through to k; only the first call counts.
func (h *pendingHandler) open(k *kafka.Broker) {
	h.once.Do(func() {
		h.broker = k
		close(h.ready)
	})
}

func (h *pendingHandler) ServeFrame(ctx context.Context, c *netio.Conn, frame []byte) ([]netio.Piece, error) {
	select {
	case <-h.ready:
		if h.broker == nil {
			return nil, errors.New("broker failed to start")
		}
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
		TopicDefaults:            cfg.staticTopicDefaults(),
		BrokerConfigs:            cfg.kafkaBrokerConfigs(),
		FetchWaitMsMax:           cfg.Fetch.MaxWaitMsMax,
		FetchBytesMax:            cfg.Fetch.MaxBytes,
		FetchSessionsMax:         cfg.Fetch.FetchSessionsMax,
		ReplicaSelector:          cfg.Replication.ReplicaSelector,
		DataDir:                  cfg.absDataDir(),
		Logger:                   log,
	}
}

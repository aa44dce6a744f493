package targets

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/riffle/riffle/benchmarks/internal/cpus"
	"github.com/riffle/riffle/benchmarks/internal/modver"
)

// ErrNotReady marks an embedded server that did not accept connections in time.
var ErrNotReady = errors.New("server not ready")

// NATS runs a nats-server with JetStream (file storage) in a child
// process: Exec is the harness command whose "serve nats" runs ServeNATS.
type NATS struct {
	Exec       []string
	WorkDir    string
	CPUs       *cpus.Set // run on these CPUs only; nil: any
	SyncAlways bool      // fsync every write (sync_interval: always)
	Label      string
}

// Name implements Target.
func (n *NATS) Name() string {
	if n.Label != "" {
		return n.Label
	}
	return "nats-jetstream"
}

// Start implements Target.
func (n *NATS) Start(ctx context.Context) (*Instance, error) {
	argv := append(append([]string(nil), n.Exec...), "nats", "--sync="+strconv.FormatBool(n.SyncAlways))
	in, err := launch(ctx, n.Name(), n.WorkDir, n.CPUs, argv)
	if err != nil {
		return nil, err
	}
	in.Protocol = ProtocolNATS
	durability := "file store, fsync every 2 minutes (nats-server default)"
	if n.SyncAlways {
		durability = "file store, fsync every write (sync_interval: always)"
	}
	in.Settings = map[string]string{
		"server":     modver.Of("github.com/nats-io/nats-server/v2") + ", embedded in a child process",
		"durability": durability,
	}
	return in, nil
}

// ServeNATS runs a nats-server with JetStream on 127.0.0.1, storing in
// dataDir, until ctx ends, after writing its address to readyFile.
func ServeNATS(ctx context.Context, dataDir, readyFile string, syncAlways bool) error {
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  dataDir,
		NoSigs:    true,
		NoLog:     true,
	}
	if syncAlways {
		opts.SyncAlways = true
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("nats-server: %w", err)
	}
	go s.Start()
	defer s.Shutdown()
	if !s.ReadyForConnections(ReadyTimeout) {
		return fmt.Errorf("nats-server: %w after %v", ErrNotReady, ReadyTimeout)
	}
	if err := writeReady(readyFile, s.Addr().String()); err != nil {
		return fmt.Errorf("nats-server: ready file: %w", err)
	}
	<-ctx.Done()
	return nil
}

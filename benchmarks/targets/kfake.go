package targets

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/riffle/riffle/benchmarks/internal/cpus"
	"github.com/riffle/riffle/benchmarks/internal/modver"
)

// Kfake runs franz-go's fake Kafka cluster (one broker, data on disk) in
// a child process: Exec is the harness command whose "serve kfake"
// runs ServeKfake.
type Kfake struct {
	Exec    []string // e.g. {os.Executable(), "serve"}
	WorkDir string
	CPUs    *cpus.Set // run on these CPUs only; nil: any
	Sync    bool      // fsync every batch (kfake.SyncWrites)
	Label   string
}

// Name implements Target.
func (k *Kfake) Name() string {
	if k.Label != "" {
		return k.Label
	}
	return "kfake"
}

// Start implements Target.
func (k *Kfake) Start(ctx context.Context) (*Instance, error) {
	argv := append(append([]string(nil), k.Exec...), "kfake", "--sync="+strconv.FormatBool(k.Sync))
	in, err := launch(ctx, k.Name(), k.WorkDir, k.CPUs, argv)
	if err != nil {
		return nil, err
	}
	in.Protocol = ProtocolKafka
	durability := "page cache (kfake DataDir, Kafka-default flush)"
	if k.Sync {
		durability = "fsync per batch (kfake SyncWrites)"
	}
	in.Settings = map[string]string{
		"server":     modver.Of("github.com/twmb/franz-go/pkg/kfake") + ", 1 broker, child process",
		"durability": durability,
	}
	return in, nil
}

// ServeKfake runs a one-broker kfake cluster on 127.0.0.1 with its data in
// dataDir until ctx ends, after writing its address to readyFile.
func ServeKfake(ctx context.Context, dataDir, readyFile string, sync bool) error {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.DataDir(dataDir)}
	if sync {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("kfake: %w", err)
	}
	defer c.Close()
	if err := writeReady(readyFile, c.ListenAddrs()[0]); err != nil {
		return fmt.Errorf("kfake: ready file: %w", err)
	}
	<-ctx.Done()
	return nil
}

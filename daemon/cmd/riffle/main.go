// Command riffle runs a Kafka-compatible broker (see daemon.Main and
// `riffle --help`), or, when its first argument is an admin command
// (topic, group, cluster, produce, consume; maybe after -b and the other
// flags every command takes), that command against a broker (see
// package cli), or with dev-cluster, several brokers on loopback (see
// daemon.DevCluster).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/riffle/riffle/daemon"
	"github.com/riffle/riffle/daemon/cli"
)

func main() {
	// SIGTERM (systemd, docker) and SIGINT (a terminal) ask for a graceful
	// shutdown; daemon.Main bounds it by broker.shutdown_timeout_ms. An
	// admin command stops what it is doing.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	var code int
	switch {
	case cli.IsCommandLine(os.Args[1:]):
		code = cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	case daemon.IsDevCluster(os.Args[1:]):
		code = daemon.DevCluster(ctx, os.Args[1:], os.Stdout, os.Stderr)
	default:
		code = daemon.Main(ctx, os.Args[1:])
	}
	stop()
	os.Exit(code)
}

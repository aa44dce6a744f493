// Command riffle runs a Kafka-compatible broker; see daemon.Main and
// `riffle --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/riffle/riffle/daemon"
)

func main() {
	// SIGTERM (systemd, docker) and SIGINT (a terminal) ask for a graceful
	// shutdown; daemon.Main bounds it by broker.shutdown_timeout_ms.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := daemon.Main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// Command riffle-bench load-tests Kafka-compatible brokers (and NATS
// JetStream for comparison). See benchmarks/README.md.
//
//	riffle-bench run     [flags]   one scenario against one cluster
//	riffle-bench compare [flags]   scenarios against several targets, alternating
//	riffle-bench chaos   [flags]   a cluster under injected faults, with a checker
//	riffle-bench serve kfake|nats  (internal) run a peer broker for the harness
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/riffle/riffle/benchmarks/chaos/netns"
)

// errUsage marks a command line the tool cannot act on; it exits 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := dispatch(ctx, os.Args[1:])
	switch {
	case err == nil:
	case errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	case errors.Is(err, netns.ErrEnvironment):
		fmt.Fprintln(os.Stderr, "riffle-bench:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "riffle-bench:", err)
		os.Exit(1)
	}
}

func dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: riffle-bench run|compare|chaos|serve [flags]; -h after a command lists its flags", errUsage)
	}
	switch args[0] {
	case "run":
		return runCmd(ctx, args[1:])
	case "compare":
		return compareCmd(ctx, args[1:])
	case "chaos":
		return chaosCmd(ctx, args[1:])
	case "serve":
		return serveCmd(ctx, args[1:])
	default:
		return fmt.Errorf("%w: unknown command %q (want run, compare, chaos or serve)", errUsage, args[0])
	}
}

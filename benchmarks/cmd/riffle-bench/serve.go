package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/riffle/riffle/benchmarks/targets"
)

// serveCmd runs a peer broker in this process until SIGTERM; the targets
// package starts it as a child so its CPU and memory are its own.
func serveCmd(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: riffle-bench serve kfake|nats --data-dir D --ready-file F [--sync]", errUsage)
	}
	fs := flag.NewFlagSet("serve "+args[0], flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "data directory")
	ready := fs.String("ready-file", "", "file to write the bound address to")
	sync := fs.Bool("sync", false, "fsync every write")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *dataDir == "" || *ready == "" {
		return fmt.Errorf("%w: serve needs --data-dir and --ready-file", errUsage)
	}
	switch args[0] {
	case "kfake":
		return targets.ServeKfake(ctx, *dataDir, *ready, *sync)
	case "nats":
		return targets.ServeNATS(ctx, *dataDir, *ready, *sync)
	default:
		return fmt.Errorf("%w: serve %q: want kfake or nats", errUsage, args[0])
	}
}

package main

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/riffle/riffle/daemon"
	"github.com/riffle/riffle/internal/brokertest"
)

func TestMain(m *testing.M) { os.Exit(brokertest.Run(m)) }

// TestExitCodes runs the real binary on command lines that never start a broker.
func TestExitCodes(t *testing.T) {
	bin := brokertest.Binary(t)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"help", []string{"--help"}, 0, "Usage: riffle"},
		{"unknown flag", []string{"--bogus"}, daemon.ExitUsage, "flag provided but not defined: -bogus"},
		{"bad value", []string{"--set", "log.segment_bytes=10"}, daemon.ExitUsage, "log.segment_bytes = 10: must be from 1024"},
		{"missing config", []string{"--config", "/nonexistent.toml"}, daemon.ExitUsage, "/nonexistent.toml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			cmd := exec.Command(bin, tc.args...)
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				code = exitErr.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr.String(), tc.code, tc.stderr)
			}
		})
	}
}

// TestServeAndStop starts the real broker and stops it with SIGTERM, which
// must shut it down and exit 0 (brokertest's Stop checks the status).
func TestServeAndStop(t *testing.T) {
	b := brokertest.Start(t)
	c, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatalf("broker not serving at %s: %v", b.Addr(), err)
	}
	c.Close()
	b.Stop()
}

package daemon

import (
	"bytes"
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
)

func parse(t *testing.T, args ...string) (Config, string, error) {
	t.Helper()
	var stderr bytes.Buffer
	c, err := ParseArgs(args, &stderr)
	return c, stderr.String(), err
}

func TestParseArgsDefaults(t *testing.T) {
	c, out, err := parse(t)
	if err != nil || out != "" {
		t.Fatalf("err = %v, stderr = %q", err, out)
	}
	if !reflect.DeepEqual(c, DefaultConfig()) {
		t.Errorf("no arguments should give the embedded defaults, got %+v", c)
	}
}

func TestParseArgsOverrideOrder(t *testing.T) {
	path := writeFile(t, "[broker]\nlisten = \"127.0.0.1:1000\"\nnode_id = 5\n[log]\nsegment_bytes = 2048\n")
	for _, tc := range []struct {
		name   string
		args   []string
		listen string
	}{
		{"file", []string{"--config", path}, "127.0.0.1:1000"},
		{"flag over file", []string{"--listen", "127.0.0.1:2000", "--config", path}, "127.0.0.1:2000"},
		{"flag after set", []string{"--config", path, "--set", "broker.listen=127.0.0.1:3000", "--listen=127.0.0.1:4000"}, "127.0.0.1:4000"},
		{"set after flag", []string{"--config", path, "--listen=127.0.0.1:4000", "--set", "broker.listen=127.0.0.1:3000"}, "127.0.0.1:3000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, out, err := parse(t, tc.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if c.Broker.Listen != tc.listen {
				t.Errorf("listen = %q, want %q", c.Broker.Listen, tc.listen)
			}
			if c.Broker.NodeID != 5 || c.Log.SegmentBytes != 2048 {
				t.Errorf("file keys lost: node_id %d, segment_bytes %d", c.Broker.NodeID, c.Log.SegmentBytes)
			}
		})
	}
}

func TestParseArgsShorthands(t *testing.T) {
	c, out, err := parse(t, "--data-dir", "/var/lib/riffle", "--node-id", "3", "--admin-listen", "",
		"--log-level", "debug", "--ready-file", "/run/riffle.ready", "-set", "log.sync_every_append=true")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	b := c.Broker
	if b.DataDir != "/var/lib/riffle" || b.NodeID != 3 || b.AdminListen != "" || b.LogLevel != "debug" || b.ReadyFile != "/run/riffle.ready" || !c.Log.SyncEveryAppend {
		t.Errorf("shorthands not applied: %+v sync=%v", b, c.Log.SyncEveryAppend)
	}
}

func TestParseArgsHelp(t *testing.T) {
	_, out, err := parse(t, "--help")
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage: riffle", "-config", "-set", "-ready-file", "broker.data_dir"} {
		if !strings.Contains(out, want) {
			t.Errorf("usage lacks %q:\n%s", want, out)
		}
	}
}

func TestParseArgsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--lisen", "x"}, "riffle: flag provided but not defined: -lisen\nRun 'riffle --help' for usage.\n"},
		{"missing value", []string{"--listen"}, "riffle: flag needs an argument: -listen\nRun 'riffle --help' for usage.\n"},
		{"positional", []string{"serve"}, `riffle: unexpected argument "serve"`},
		{"set without =", []string{"--set", "log.segment_bytes"}, "want section.key=value"},
		{"set unknown key", []string{"--set", "log.segmnt_bytes=1"}, `riffle: config: --set log.segmnt_bytes=1: unknown key "log.segmnt_bytes"`},
		{"set bad value", []string{"--set", "log.segment_bytes=10"}, "riffle: config: log.segment_bytes = 10: must be from 1024 to 2147483647"},
		{"shorthand bad type", []string{"--node-id", "abc"}, `riffle: config: --node-id abc: broker.node_id: want an integer`},
		{"missing config file", []string{"--config", "/nonexistent/riffle.toml"}, "/nonexistent/riffle.toml"},
		{"two problems", []string{"--set", "log.segment_bytes=10", "--log-level", "loud"}, "riffle: config: broker.log_level"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, out, err := parse(t, tc.args...)
			if err == nil || errors.Is(err, flag.ErrHelp) {
				t.Fatalf("err = %v, want a usage error", err)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, out)
			}
			// One line per problem and the pointer to --help, never the
			// whole usage.
			if strings.Contains(out, "Usage:") || !strings.HasSuffix(out, "\nRun 'riffle --help' for usage.\n") {
				t.Errorf("want the problem and a pointer to --help, got:\n%s", out)
			}
		})
	}
}

// --version wins over the rest of the command line, even a bad one.
func TestParseArgsVersion(t *testing.T) {
	_, out, err := parse(t, "--set", "log.segment_bytes=10", "--version")
	if !errors.Is(err, errVersion) || out != "" {
		t.Errorf("err = %v, stderr = %q; want errVersion and nothing written", err, out)
	}
}

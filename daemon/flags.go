package daemon

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit codes of the broker (README.md, "Exit codes"): 0 after a clean
// stop, 1 for a failure while running or one not listed here.
const (
	// ExitUsage is a bad command line or configuration: the same mistake
	// would fail again, so a supervisor should not restart on it.
	ExitUsage = 2
	// ExitListen is a listener address that cannot be bound: in use by
	// another process, not an address of this host, or a privileged port.
	ExitListen = 3
	// ExitDataDir is a data directory that cannot be used: not a
	// directory, not writable, on a read-only filesystem, or locked by
	// another broker.
	ExitDataDir = 4
)

// errVersion is ParseArgs' answer to --version: print Version, exit 0.
var errVersion = errors.New("version requested")

// shorthands are the named flags; each sets one key, like --set.
var shorthands = []struct{ flag, key, usage string }{
	{"listen", "broker.listen", "Kafka listener address, `host:port` (port 0 picks one)"},
	{"data-dir", "broker.data_dir", "`directory` of the partition logs"},
	{"node-id", "broker.node_id", "this broker's `id`"},
	{"admin-listen", "broker.admin_listen", "admin HTTP address, `host:port` (empty disables)"},
	{"log-level", "broker.log_level", "`level`: debug, info, warn or error"},
	{"ready-file", "broker.ready_file", "once serving, write the bound addresses (Kafka, then admin) to this `file`"},
}

// override is one key set on the command line, in command-line order.
type override struct {
	flag, key, value string
}

// ParseArgs builds the configuration from the command line (without the
// program name): the embedded defaults, then the --config file, then the
// --set and named flags in command-line order (the last mention of a key
// wins), then Validate.
//
// ParseArgs writes any problem, or the usage for --help, to stderr itself.
// It returns flag.ErrHelp after --help and errVersion after --version (exit
// 0 for both, whatever else the command line says); any other error means a
// bad command line or configuration (exit ExitUsage).
func ParseArgs(args []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("riffle", flag.ContinueOnError)
	// A bad flag is reported in one line, as a bad config is; only --help
	// prints the usage.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	configPath := fs.String("config", "", "read this TOML `file` over the embedded defaults")
	version := fs.Bool("version", false, "print the version, commit and Go version, and exit")
	var overrides []override
	fs.Func("set", "set one key: `section.key=value` (repeatable)", func(s string) error {
		key, value, ok := strings.Cut(s, "=")
		if !ok {
			return errors.New("want section.key=value")
		}
		overrides = append(overrides, override{"--set", key, value})
		return nil
	})
	for _, sh := range shorthands {
		fs.Func(sh.flag, sh.usage+" (--set "+sh.key+")", func(value string) error {
			overrides = append(overrides, override{"--" + sh.flag, sh.key, value})
			return nil
		})
	}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stderr)
		usage(fs)
		return Config{}, err
	case err != nil:
		return Config{}, usageProblem(stderr, err)
	case *version:
		return Config{}, errVersion
	}
	cfg, err := buildConfig(*configPath, overrides, fs.Args())
	if err != nil {
		return Config{}, usageProblem(stderr, err)
	}
	return cfg, nil
}

// usageProblem writes err, a line per problem, and a pointer to --help;
// it returns err.
func usageProblem(stderr io.Writer, err error) error {
	fmt.Fprintf(stderr, "riffle: %v\nRun 'riffle --help' for usage.\n", strings.ReplaceAll(err.Error(), "\n", "\nriffle: "))
	return err
}

func buildConfig(configPath string, overrides []override, positional []string) (Config, error) {
	if len(positional) > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q (riffle takes only flags)", positional[0])
	}
	cfg := DefaultConfig()
	if configPath != "" {
		if err := cfg.LoadConfigFile(configPath); err != nil {
			return Config{}, err
		}
	}
	for _, o := range overrides {
		if err := cfg.Set(o.key, o.value); err != nil {
			if o.flag == "--set" {
				return Config{}, fmt.Errorf("config: --set %s=%s: %w", o.key, o.value, err)
			}
			return Config{}, fmt.Errorf("config: %s %s: %w", o.flag, o.value, err)
		}
	}
	return cfg, cfg.Validate()
}

func usage(fs *flag.FlagSet) {
	fmt.Fprint(fs.Output(), `Usage: riffle [flags]
       riffle topic|group|cluster|produce|consume|log-dirs ...   (admin commands; riffle <command> --help)
       riffle dev-cluster N   (N nodes on loopback, in the foreground)

Riffle is a Kafka-compatible broker. With no flags it serves on
127.0.0.1:9092 and keeps its data in ./data (the embedded defaults; the
repository's config.toml documents every key).

Flags:
`)
	fs.PrintDefaults()
}

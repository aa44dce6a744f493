package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Exit codes.
const (
	ExitFailure = 1 // the broker is unreachable or refused a request
	ExitUsage   = 2 // a bad command line
)

// Defaults of the flags every command takes.
const (
	defaultBrokers = "127.0.0.1:9092"
	brokersEnv     = "RIFFLE_BROKERS"
	defaultTimeout = 15 * time.Second
)

// runFunc runs one command on its arguments (after the command's name).
type runFunc func(e *env, args []string) error

// commands maps each command word to its subcommands; a command with no
// subcommands is under the key "".
var commands = map[string]map[string]runFunc{
	"topic": {
		"create":         topicCreate,
		"list":           topicList,
		"describe":       topicDescribe,
		"delete":         topicDelete,
		"alter-config":   topicAlterConfig,
		"elect-leaders":  topicElectLeaders,
		"delete-records": topicDeleteRecords,
		"reassign":       topicReassign,
	},
	"group": {
		"list":          groupList,
		"describe":      groupDescribe,
		"reset-offsets": groupResetOffsets,
	},
	"txn": {
		"list":     txnList,
		"describe": txnDescribe,
	},
	"cluster":  {"describe": clusterDescribe},
	"user":     {"list": userList, "set": userSet, "delete": userDelete},
	"acl":      {"list": aclList, "add": aclAdd, "delete": aclDelete},
	"quota":    {"describe": quotaDescribe, "alter": quotaAlter},
	"produce":  {"": produce},
	"consume":  {"": consume},
	"log-dirs": {"": logDirs},
}

// IsCommand reports whether name is an admin command, so the riffle binary
// runs Main instead of the broker.
func IsCommand(name string) bool {
	_, ok := commands[name]
	return ok
}

// IsCommandLine reports whether args (without the program name) run an
// admin command: a command word, maybe after the flags every command
// takes ("-b host:9092 topic list").
func IsCommandLine(args []string) bool {
	_, rest := leadingCommonFlags(args)
	return len(rest) > 0 && IsCommand(rest[0])
}

// leadingCommonFlags splits off the flags every command takes (-b,
// --brokers, --timeout, --json, the TLS and SASL ones) given before the command word, so that
// "riffle -b host:9092 topic list" works as Kafka's tools users expect.
func leadingCommonFlags(args []string) (flags, rest []string) {
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		switch {
		case name == "json" || name == "tls":
		case slices.Contains(commonValueFlags, name):
			if !hasValue {
				i++ // the value is the next argument
			}
		default:
			return args[:0], args
		}
		i++
	}
	if i > len(args) { // a value missing at the end
		return args[:0], args
	}
	return args[:i], args[i:]
}

// Main runs the admin command in args (the command word, as in "topic",
// "list", maybe after the common flags) and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags, args := leadingCommonFlags(args)
	run, name, rest, err := lookup(args)
	e := &env{ctx: ctx, name: name, stdin: stdin, stdout: stdout, stderr: stderr}
	if err == nil {
		// The command's own parser takes the leading flags as if given
		// after the command word.
		err = run(e, append(slices.Clip(flags), rest...))
	}
	prefix := strings.TrimSpace("riffle " + name)
	var usage usageError
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", prefix, err, prefix)
		return ExitUsage
	case errors.Is(err, errReported):
		return ExitFailure
	default:
		fmt.Fprintf(stderr, "%s: %v\n", prefix, err)
		return ExitFailure
	}
}

// lookup finds the command args names: its function, its name for
// messages, and its arguments.
func lookup(args []string) (runFunc, string, []string, error) {
	if len(args) == 0 || !IsCommand(args[0]) {
		return nil, "", nil, usageErrorf("unknown command %q", strings.Join(args[:min(1, len(args))], ""))
	}
	subs := commands[args[0]]
	if run, ok := subs[""]; ok {
		return run, args[0], args[1:], nil
	}
	names := make([]string, 0, len(subs))
	for n := range subs {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(args) < 2 {
		return nil, args[0], nil, usageErrorf("missing subcommand: one of %s", strings.Join(names, ", "))
	}
	switch args[1] {
	case "-h", "-help", "--help", "help":
		return func(e *env, _ []string) error {
			fmt.Fprintf(e.stderr, "Usage: riffle %s SUBCOMMAND [flags] [args]\n\nSubcommands: %s\n"+
				"Run 'riffle %s SUBCOMMAND --help' for one's flags.\n", args[0], strings.Join(names, ", "), args[0])
			return nil
		}, args[0], nil, nil
	}
	run, ok := subs[args[1]]
	if !ok {
		return nil, args[0], nil, usageErrorf("unknown subcommand %q: want one of %s", args[1], strings.Join(names, ", "))
	}
	return run, args[0] + " " + args[1], args[2:], nil
}

// usageError is a bad command line: exit 2, with a pointer to --help.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// errReported means the failure is already on stderr; exit 1.
var errReported = errors.New("failed; see above")

// env is what a command runs with: its streams and the common flags.
type env struct {
	ctx            context.Context
	name           string // "topic create", for messages
	stdin          io.Reader
	stdout, stderr io.Writer

	brokers  string
	json     bool
	security securityFlags
	timeout  time.Duration
	usage    func() // prints the command's usage, set by flags
}

// flags returns the command's flag set with the common flags registered.
// synopsis follows "riffle NAME [flags]" in the usage line.
func (e *env) flags(synopsis, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet("riffle "+e.name, flag.ContinueOnError)
	// Parse errors come back as usage errors, reported once by Main; only
	// --help prints the usage.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	e.usage = func() {
		fmt.Fprintf(e.stderr, "Usage: riffle %s [flags] %s\n\n%s\n\nFlags:\n", e.name, synopsis, summary)
		fs.SetOutput(e.stderr)
		fs.PrintDefaults()
	}
	brokers := os.Getenv(brokersEnv)
	if brokers == "" {
		brokers = defaultBrokers
	}
	fs.StringVar(&e.brokers, "b", brokers, "comma-separated seed `brokers`, host:port (env "+brokersEnv+")")
	alias(fs, "brokers", "b")
	fs.BoolVar(&e.json, "json", false, "print JSON instead of a table")
	fs.DurationVar(&e.timeout, "timeout", defaultTimeout, "give up on the brokers after this `duration`")
	e.security.register(fs)
	return fs
}

// alias defines --name as another name of the flag --of.
func alias(fs *flag.FlagSet, name, of string) {
	fs.Var(fs.Lookup(of).Value, name, "same as -"+of)
}

// parse parses args with fs, flags and positional arguments in any order
// ("--" ends the flags), and checks the positional count is in [min, max]
// (max < 0: no limit).
func (e *env) parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int, what string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				e.usage()
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	switch {
	case len(positional) < minArgs:
		return nil, usageErrorf("missing %s", what)
	case maxArgs >= 0 && len(positional) > maxArgs:
		return nil, usageErrorf("unexpected argument %q", positional[maxArgs])
	case e.timeout <= 0:
		return nil, usageErrorf("--timeout %v: must be positive", e.timeout)
	}
	return positional, nil
}

// connect returns a client for the seed brokers once one of them answers,
// and a context bounded by --timeout. The caller closes the client.
func (e *env) connect(opts ...kgo.Opt) (*kgo.Client, context.Context, context.CancelFunc, error) {
	var seeds []string
	for _, s := range strings.Split(e.brokers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return nil, nil, nil, usageErrorf("--brokers: no broker address")
	}
	secOpts, err := e.security.opts()
	if err != nil {
		return nil, nil, nil, err
	}
	opts = append(secOpts, opts...)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID("riffle-cli")}, opts...)...)
	if err != nil {
		return nil, nil, nil, usageErrorf("--brokers %s: %v", e.brokers, err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, e.timeout)
	if err := cl.Ping(ctx); err != nil {
		cancel()
		cl.Close()
		return nil, nil, nil, fmt.Errorf("cannot reach brokers %s: %w", e.brokers, err)
	}
	return cl, ctx, cancel, nil
}

// admin is connect for the admin commands. It checks that every broker
// serves the Kafka APIs the command needs (apiKeys), since franz-go reports
// a missing API only as "broker is too old", or not at all.
func (e *env) admin(apiKeys ...kmsg.Key) (*kadm.Client, context.Context, func(), error) {
	_, adm, ctx, done, err := e.adminClients(apiKeys...)
	return adm, ctx, done, err
}

// adminClients is admin that also returns the client under the admin
// client, for requests kadm does not make.
func (e *env) adminClients(apiKeys ...kmsg.Key) (*kgo.Client, *kadm.Client, context.Context, func(), error) {
	cl, ctx, cancel, err := e.connect()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	done := func() { cancel(); cl.Close() }
	adm := kadm.NewClient(cl)
	if err := requireAPIs(ctx, adm, apiKeys); err != nil {
		done()
		return nil, nil, nil, nil, err
	}
	return cl, adm, ctx, done, nil
}

func requireAPIs(ctx context.Context, adm *kadm.Client, apiKeys []kmsg.Key) error {
	versions, err := adm.ApiVersions(ctx)
	if err != nil {
		return fmt.Errorf("ApiVersions: %w", err)
	}
	// A broker that does not answer is down and serves nothing; in a
	// cluster the others carry on, so only all of them failing fails.
	var firstErr error
	answered := 0
	for _, v := range versions.Sorted() {
		if v.Err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("broker %d: ApiVersions: %w", v.NodeID, v.Err)
			}
			continue
		}
		answered++
		for _, key := range apiKeys {
			if _, ok := v.KeyMaxVersion(key.Int16()); !ok {
				return fmt.Errorf("broker %d does not support %s (Kafka API key %d)", v.NodeID, key.Name(), key)
			}
		}
	}
	if answered == 0 {
		return firstErr
	}
	return nil
}

// fail reports one failed item on stderr; the command then returns
// errReported.
func (e *env) fail(item string, err error) {
	fmt.Fprintf(e.stderr, "riffle %s: %s: %v\n", e.name, item, err)
}

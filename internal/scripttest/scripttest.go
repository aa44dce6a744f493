// Package scripttest runs script-driven tests of state machines, in the
// manner of cockroachdb/datadriven: a script under testdata/ is a sequence of
// cases separated by blank lines,
//
//	# comments
//	command key=value flag ...
//	----
//	expected output
//
// Each command runs against the test's machine and its output must match.
// Run the tests with -rewrite to replace the expected output with the
// actual one after an intended change of behaviour.
package scripttest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata scripts with the actual output")

type scriptCase struct {
	comments []string
	command  string
	want     string
}

// Run runs every file matching glob under testdata/ as a subtest. For each
// file newRunner builds a fresh machine and returns the function that runs
// one command on it.
func Run(t *testing.T, glob string, newRunner func(t *testing.T) func(cmd string, a Args) string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", glob))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts testdata/%s: %v", glob, err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			run := newRunner(t)
			cases := read(t, path)
			for i, c := range cases {
				fields := strings.Fields(c.command)
				got := strings.TrimRight(run(fields[0], parseArgs(t, fields[1:])), "\n")
				if *rewrite {
					cases[i].want = got
				} else if got != c.want {
					t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", path, c.command, got, c.want)
				}
			}
			if *rewrite {
				write(t, path, cases)
			}
		})
	}
}

func read(t *testing.T, path string) []scriptCase {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []scriptCase
	var comments []string
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		switch line := lines[i]; {
		case strings.HasPrefix(line, "#"):
			comments = append(comments, line)
		case strings.TrimSpace(line) == "":
		default:
			if i+1 >= len(lines) || lines[i+1] != "----" {
				t.Fatalf("%s:%d: command without ----", path, i+1)
			}
			c := scriptCase{comments: comments, command: line}
			var want []string
			for i += 2; i < len(lines) && lines[i] != ""; i++ {
				want = append(want, lines[i])
			}
			c.want = strings.Join(want, "\n")
			cases = append(cases, c)
			comments = nil
		}
	}
	return cases
}

func write(t *testing.T, path string, cases []scriptCase) {
	var b strings.Builder
	for i, c := range cases {
		if i > 0 {
			b.WriteString("\n")
		}
		for _, line := range c.comments {
			b.WriteString(line + "\n")
		}
		fmt.Fprintf(&b, "%s\n----\n%s\n", c.command, c.want)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Args are a command's key=value arguments; a bare word is a flag.
type Args struct {
	t    testing.TB
	vals map[string]string
}

func parseArgs(t testing.TB, fields []string) Args {
	a := Args{t: t, vals: map[string]string{}}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		a.vals[k] = v
	}
	return a
}

// Str is argument k, or def when absent.
func (a Args) Str(k, def string) string {
	if v, ok := a.vals[k]; ok {
		return v
	}
	return def
}

// Opt is a nullable argument: nil when absent.
func (a Args) Opt(k string) *string {
	if v, ok := a.vals[k]; ok {
		return &v
	}
	return nil
}

// Flag reports whether k is given, as a bare word or with a value.
func (a Args) Flag(k string) bool { _, ok := a.vals[k]; return ok }

// Int is integer argument k, or def when absent; a malformed one fails the test.
func (a Args) Int(k string, def int64) int64 {
	v, ok := a.vals[k]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		a.t.Fatalf("argument %s=%q: %v", k, v, err)
	}
	return n
}

// List splits a comma-separated argument; absent or empty is nil.
func (a Args) List(k string) []string {
	if v := a.Str(k, ""); v != "" {
		return strings.Split(v, ",")
	}
	return nil
}

// KVs parses k=v,k=v (a value may not contain a comma).
func (a Args) KVs(k string) map[string]string {
	m := map[string]string{}
	for _, kv := range a.List(k) {
		key, val, _ := strings.Cut(kv, "=")
		m[key] = val
	}
	return m
}

// Fatalf fails the test, for runners rejecting an argument.
func (a Args) Fatalf(format string, args ...any) {
	a.t.Helper()
	a.t.Fatalf(format, args...)
}

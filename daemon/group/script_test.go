package group

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata scripts with the actual output")

// A script is a sequence of cases separated by blank lines:
//
//	# comments
//	command key=value flag ...
//	----
//	expected output
//
// Run with -rewrite to replace the expected output with the actual one.
type scriptCase struct {
	comments []string
	command  string
	want     string
}

func readScript(t *testing.T, path string) []scriptCase {
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

func writeScript(t *testing.T, path string, cases []scriptCase) {
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

// TestScripts runs testdata/*.txt against a fresh scriptMachine each.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			s := newScriptMachine()
			cases := readScript(t, path)
			for i, c := range cases {
				fields := strings.Fields(c.command)
				got := strings.TrimRight(s.run(t, fields[0], parseArgs(t, fields[1:])), "\n")
				if *rewrite {
					cases[i].want = got
				} else if got != c.want {
					t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", path, c.command, got, c.want)
				}
			}
			if *rewrite {
				writeScript(t, path, cases)
			}
		})
	}
}

// args are a command's key=value arguments; a bare word is a flag.
type args struct {
	t    *testing.T
	vals map[string]string
}

func parseArgs(t *testing.T, fields []string) args {
	a := args{t: t, vals: map[string]string{}}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		a.vals[k] = v
	}
	return a
}

func (a args) str(k, def string) string {
	if v, ok := a.vals[k]; ok {
		return v
	}
	return def
}

// opt is a nullable string argument: absent is nil.
func (a args) opt(k string) *string {
	if v, ok := a.vals[k]; ok {
		return &v
	}
	return nil
}

func (a args) has(k string) bool { _, ok := a.vals[k]; return ok }

func (a args) int(k string, def int64) int64 {
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

// list splits a comma-separated argument; absent or empty is nil.
func (a args) list(k string) []string {
	if v := a.str(k, ""); v != "" {
		return strings.Split(v, ",")
	}
	return nil
}

// topics parses t:0,1;u:2 into topic -> partitions, in order.
func (a args) topics(k string) (names []string, parts [][]int32) {
	for _, tv := range strings.Split(a.str(k, ""), ";") {
		if tv == "" {
			continue
		}
		name, ps, _ := strings.Cut(tv, ":")
		var p []int32
		for _, s := range strings.Split(ps, ",") {
			if s == "" {
				continue
			}
			n, err := strconv.Atoi(s)
			if err != nil {
				a.t.Fatalf("argument %s: partition %q", k, s)
			}
			p = append(p, int32(n))
		}
		names, parts = append(names, name), append(parts, p)
	}
	return names, parts
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

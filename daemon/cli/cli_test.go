package cli

import (
	"context"
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseInterleavedFlags(t *testing.T) {
	cases := []struct {
		args           []string
		wantPositional []string
		wantP          int
	}{
		{[]string{"a", "-p", "3", "b"}, []string{"a", "b"}, 3},
		{[]string{"-p", "2", "a"}, []string{"a"}, 2},
		{[]string{"a", "--", "-p", "5"}, []string{"a", "-p", "5"}, -1},
		{[]string{"a", "b"}, []string{"a", "b"}, -1},
	}
	for _, c := range cases {
		e := &env{ctx: context.Background(), name: "test", stderr: io.Discard}
		fs := e.flags("X...", "test")
		p := fs.Int("p", -1, "")
		got, err := e.parse(fs, c.args, 1, -1, "x")
		if err != nil || !slices.Equal(got, c.wantPositional) || *p != c.wantP {
			t.Errorf("parse(%q) = %q, -p %d, %v; want %q, -p %d", c.args, got, *p, err, c.wantPositional, c.wantP)
		}
	}
}

func TestParseLimits(t *testing.T) {
	for _, c := range []struct {
		args     []string
		min, max int
		want     string
	}{
		{nil, 1, -1, "missing topic name"},
		{[]string{"a", "b"}, 1, 1, `unexpected argument "b"`},
		{[]string{"-nope"}, 0, 0, "flag provided but not defined: -nope"},
	} {
		e := &env{ctx: context.Background(), name: "test", stderr: io.Discard}
		_, err := e.parse(e.flags("", ""), c.args, c.min, c.max, "topic name")
		var u usageError
		if !errors.As(err, &u) || err.Error() != c.want {
			t.Errorf("parse(%q): got %v, want usage error %q", c.args, err, c.want)
		}
	}
	var stderr strings.Builder
	e := &env{ctx: context.Background(), name: "topic list", stderr: &stderr}
	if _, err := e.parse(e.flags("", "List topics."), []string{"-h"}, 0, 0, ""); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: got %v", err)
	}
	if !strings.Contains(stderr.String(), "Usage: riffle topic list [flags]") || !strings.Contains(stderr.String(), "RIFFLE_BROKERS") {
		t.Errorf("-h: usage:\n%s", stderr.String())
	}
}

func TestMainExitCodes(t *testing.T) {
	run := func(args ...string) (int, string) {
		var stderr strings.Builder
		code := Main(context.Background(), args, strings.NewReader(""), io.Discard, &stderr)
		return code, stderr.String()
	}
	if code, msg := run("frob"); code != ExitUsage || !strings.Contains(msg, `riffle: unknown command "frob"`) {
		t.Errorf("unknown command: %d %q", code, msg)
	}
	if code, msg := run("group", "list", "extra"); code != ExitUsage || msg != "riffle group list: unexpected argument \"extra\"\nRun 'riffle group list --help' for usage.\n" {
		t.Errorf("extra argument: %d %q", code, msg)
	}
	if code, msg := run("topic", "list", "-b", "127.0.0.1:1", "--timeout", "2s"); code != ExitFailure || !strings.HasPrefix(msg, "riffle topic list: cannot reach brokers 127.0.0.1:1") {
		t.Errorf("no broker: %d %q", code, msg)
	}
	if code, msg := run("group", "--help"); code != 0 || !strings.Contains(msg, "Subcommands: describe, list, reset-offsets") {
		t.Errorf("group --help: %d %q", code, msg)
	}
	if !IsCommand("topic") || !IsCommand("consume") || IsCommand("--config") || IsCommand("") {
		t.Error("IsCommand")
	}
	// The common flags may come before the command word.
	if code, msg := run("-b", "127.0.0.1:1", "--timeout=2s", "topic", "list"); code != ExitFailure || !strings.HasPrefix(msg, "riffle topic list: cannot reach brokers 127.0.0.1:1") {
		t.Errorf("-b before the command: %d %q", code, msg)
	}
	if code, msg := run("--brokers=127.0.0.1:1", "consume", "t", "-n", "x"); code != ExitUsage || msg != "riffle consume: invalid value \"x\" for flag -n: parse error\nRun 'riffle consume --help' for usage.\n" {
		t.Errorf("bad flag after leading -b: %d %q", code, msg)
	}
}

func TestIsCommandLine(t *testing.T) {
	for args, want := range map[string]bool{
		"topic list":                       true,
		"-b h:1 topic list":                true,
		"--brokers=h:1 --json group list":  true,
		"--timeout 3s -b h:1 consume t":    true,
		"--json":                           false,
		"-b":                               false,
		"-b h:1":                           false,
		"-b topic":                         false, // topic is -b's value
		"--config riffle.toml":             false,
		"--listen 127.0.0.1:0 --set a.b=c": false,
		"-b h:1 --data-dir /tmp/riffle":    false,
		"dev-cluster 3":                    false,
		"":                                 false,
	} {
		if got := IsCommandLine(strings.Fields(args)); got != want {
			t.Errorf("IsCommandLine(%q) = %v, want %v", args, got, want)
		}
	}
}

func TestResetTargetResolve(t *testing.T) {
	off := func(n int64) *int64 { return &n }
	when := time.Unix(0, 0)
	// The partition's log spans [10, 50); 30 is committed; the first
	// record at --to-datetime is at 42.
	for _, c := range []struct {
		name   string
		target resetTarget
		want   int64
	}{
		{"earliest", resetTarget{earliest: true}, 10},
		{"latest", resetTarget{latest: true}, 50},
		{"offset", resetTarget{offset: off(20)}, 20},
		{"offset below the log", resetTarget{offset: off(3)}, 10},
		{"offset past the end", resetTarget{offset: off(99)}, 50},
		{"datetime", resetTarget{datetime: &when}, 42},
		{"shift back", resetTarget{shift: off(-5)}, 25},
		{"shift past the end", resetTarget{shift: off(100)}, 50},
	} {
		if got := c.target.resolve(30, 10, 50, 42); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
	// Nothing committed: a shift counts from the log start.
	if got := (&resetTarget{shift: off(5)}).resolve(-1, 10, 50, 42); got != 15 {
		t.Errorf("shift without a commit: got %d, want 15", got)
	}
}

func TestParseTopicPartitions(t *testing.T) {
	got, err := parseTopicPartitions([]string{"a", "b:0,2"})
	if err != nil || len(got) != 2 || got["a"] != nil || !slices.Equal(got["b"], []int32{0, 2}) {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{":1", "b:", "b:1,-2", "b:x"} {
		if _, err := parseTopicPartitions([]string{bad}); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestEachLine(t *testing.T) {
	var got []string
	if err := eachLine(strings.NewReader("a\r\n\nb\nlast"), func(s string) { got = append(got, s) }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "", "b", "last"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestStartAtPosition(t *testing.T) {
	l := partitionLog{start: 5, end: 9}
	for s, want := range map[string]int64{"start": 5, "end": 9, "7": 7, "2": 5, "100": 9} {
		at, err := parseStartAt(s)
		if err != nil || at.position(l) != want {
			t.Errorf("-o %s: position %d, %v; want %d", s, at.position(l), err, want)
		}
	}
	if _, err := parseStartAt("-1"); err == nil {
		t.Error("-o -1: want an error")
	}
}

func TestTable(t *testing.T) {
	tb := newTable("NAME", "N")
	tb.add("long-name", 1)
	tb.add("x", 22)
	var out strings.Builder
	if err := tb.write(&out); err != nil {
		t.Fatal(err)
	}
	if want := "NAME       N\nlong-name  1\nx          22\n"; out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, é, 日本, 🙂": "plain text, é, 日本, 🙂",
		"tab\tstays":           "tab\tstays",
		"a\nb\r\n":             `a\nb\r\n`,
		"\x00\x1b[2J\x7f":      `\x00\x1b[2J\x7f`,
		"\xff\xfe":             `\xff\xfe`,
		"\u0085\u2028":         `\u0085\u2028`,
		"\U000e0001":           `\U000e0001`,
		"":                     "",
	} {
		if got := escape([]byte(in)); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
}

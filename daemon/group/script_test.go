package group

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/riffle/riffle/internal/scripttest"
)

// TestScripts runs testdata/*.txt against a fresh scriptMachine each.
func TestScripts(t *testing.T) {
	scripttest.Run(t, "*.txt", func(t *testing.T) func(string, scripttest.Args) string {
		s := newScriptMachine()
		return func(cmd string, a scripttest.Args) string { return s.run(t, cmd, a) }
	})
}

// topics parses t:0,1;u:2 into topic -> partitions, in order.
func topicsArg(a scripttest.Args, k string) (names []string, parts [][]int32) {
	for _, tv := range strings.Split(a.Str(k, ""), ";") {
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
				a.Fatalf("argument %s: partition %q", k, s)
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

package daemon

import (
	"runtime"
	"runtime/debug"
)

// buildInfo is what go build stamped into the binary: the module version
// and the commit (with "+dirty" for uncommitted changes; "unknown" for a
// binary built outside a git checkout or with -buildvcs=false), and the Go
// version that built it.
type buildInfo struct {
	version, commit, goVersion string
}

func readBuildInfo() buildInfo {
	b := buildInfo{version: "(unknown)", commit: "unknown", goVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.version = info.Main.Version
	var dirty bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.commit = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && b.commit != "unknown" {
		b.commit += "+dirty"
	}
	return b
}

// Version is what `riffle --version` prints, e.g.
// "riffle v0.0.0-20261202183619-6b092d4d0768 (commit 6b092d4d0768d85e1381ad1ac975aaad47f067f3, go1.26.8)".
func Version() string {
	b := readBuildInfo()
	return "riffle " + b.version + " (commit " + b.commit + ", " + b.goVersion + ")"
}

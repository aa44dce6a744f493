// Package modver reports the versions of the modules built into this
// binary, so results name the exact client and server code they measured.
package modver

import "runtime/debug"

// Of returns "path version" for a module in the build, or path alone if it
// is not there (e.g. in a test binary without build info).
func Of(path string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return path
	}
	for _, m := range info.Deps {
		if m.Path == path {
			return path + " " + m.Version
		}
	}
	return path
}

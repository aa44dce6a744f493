package targets

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/riffle/riffle/benchmarks/internal/cpus"
)

// Riffle runs the riffle binary built from the repository at RepoDir.
type Riffle struct {
	RepoDir string    // the parent repository ("..", from benchmarks/)
	WorkDir string    // where the binary and data directories go
	CPUs    *cpus.Set // run on these CPUs only; nil: any
	Args    []string  // extra flags, e.g. "--set", "log.sync_every_append=true"
	Label   string    // name in results; "riffle" if empty
	// Bin, if set, is a prebuilt riffle binary to run instead of building.
	Bin string

	bin     string
	version string
}

// Name implements Target.
func (r *Riffle) Name() string {
	if r.Label != "" {
		return r.Label
	}
	return "riffle"
}

// Build compiles riffle once; Start calls it if needed.
func (r *Riffle) Build(ctx context.Context) error {
	if r.bin != "" {
		return nil
	}
	if r.Bin != "" {
		r.bin, r.version = r.Bin, "prebuilt "+r.Bin
		return nil
	}
	bin := filepath.Join(r.WorkDir, "riffle")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./daemon/cmd/riffle")
	cmd.Dir = r.RepoDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("riffle: go build in %s: %w\n%s", r.RepoDir, err, out)
	}
	r.bin = bin
	r.version = gitVersion(ctx, r.RepoDir)
	return nil
}

// Binary returns the built binary and what it was built from; Build first.
func (r *Riffle) Binary() (path, version string) { return r.bin, r.version }

// gitVersion names the commit built, with "+dirty" for local changes.
func gitVersion(ctx context.Context, dir string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "describe", "--always", "--dirty=+dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// Start implements Target: a fresh data directory, a port picked by the kernel.
func (r *Riffle) Start(ctx context.Context) (*Instance, error) {
	if err := r.Build(ctx); err != nil {
		return nil, err
	}
	argv := append([]string{r.bin, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, r.Args...)
	in, err := launch(ctx, r.Name(), r.WorkDir, r.CPUs, argv)
	if err != nil {
		return nil, err
	}
	in.Protocol = ProtocolKafka
	in.Settings = map[string]string{
		"server":     "riffle " + r.version,
		"args":       strings.Join(r.Args, " "),
		"durability": durability(r.Args),
		"storage":    "a fresh temporary data directory",
	}
	return in, nil
}

func durability(args []string) string {
	for _, a := range args {
		if strings.Contains(a, "log.sync_every_append=true") {
			return "fdatasync before every acknowledgement (log.sync_every_append)"
		}
	}
	return "page cache; fdatasync on segment roll and shutdown (default)"
}

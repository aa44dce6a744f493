package targets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/riffle/riffle/benchmarks/driver"
	"github.com/riffle/riffle/benchmarks/driver/kafkadrv"
	"github.com/riffle/riffle/benchmarks/driver/natsdrv"
	"github.com/riffle/riffle/benchmarks/internal/cpus"
)

// Timeouts for a target to come up and to shut down.
const (
	ReadyTimeout = 60 * time.Second
	StopTimeout  = 30 * time.Second
)

// ErrExited marks a target process that exited before it was ready.
var ErrExited = errors.New("target exited")

// Protocols a target speaks.
const (
	ProtocolKafka = "kafka"
	ProtocolNATS  = "nats"
)

// Target is a system the harness can start.
type Target interface {
	Name() string
	Start(ctx context.Context) (*Instance, error)
}

// Instance is one running target.
type Instance struct {
	Name     string            `json:"name"`
	Protocol string            `json:"protocol"`
	Addr     string            `json:"addr"`
	PID      int               `json:"pid,omitempty"` // 0: not measured
	Settings map[string]string `json:"settings"`
	CPUs     string            `json:"cpus,omitempty"` // the CPUs it was pinned to, if any

	proc    *exec.Cmd
	exited  chan struct{}
	logPath string
	cleanup func()
}

// System connects a driver to the instance.
func (in *Instance) System() (driver.System, error) {
	if in.Protocol == ProtocolNATS {
		return natsdrv.New("nats://" + in.Addr)
	}
	return kafkadrv.New(strings.Split(in.Addr, ",")...)
}

// Stop ends the instance's process (SIGTERM, then SIGKILL after
// StopTimeout) and removes its data. External instances are left running.
func (in *Instance) Stop() error {
	var err error
	if in.proc != nil {
		_ = in.proc.Process.Signal(syscall.SIGTERM)
		select {
		case <-in.exited:
		case <-time.After(StopTimeout):
			_ = in.proc.Process.Kill()
			<-in.exited
			err = fmt.Errorf("%s: killed after %v without exiting; its output ends:\n%s", in.Name, StopTimeout, Tail(in.logPath))
		}
	}
	if in.cleanup != nil {
		in.cleanup()
	}
	return err
}

// launch runs argv with a fresh data directory and ready file appended as
// "--data-dir D --ready-file F" and waits until the ready file names the
// bound address. Output goes to the log file "<name>.log" in the work dir,
// whose tail is quoted if the process fails to come up. With cpus the
// process runs on those CPUs only.
func launch(ctx context.Context, name, workDir string, cpuSet *cpus.Set, argv []string) (*Instance, error) {
	dir, err := os.MkdirTemp(workDir, name+"-")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	dataDir, ready, logPath := filepath.Join(dir, "data"), filepath.Join(dir, "ready"), filepath.Join(dir, "output.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer logFile.Close()
	cmd := exec.Command(argv[0], append(argv[1:], "--data-dir", dataDir, "--ready-file", ready)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cpus.Start(cmd, cpuSet); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%s: start %s: %w", name, argv[0], err)
	}
	in := &Instance{Name: name, PID: cmd.Process.Pid, proc: cmd, exited: make(chan struct{}),
		logPath: logPath, cleanup: func() { os.RemoveAll(dir) }}
	if cpuSet != nil {
		in.CPUs = cpuSet.String()
	}
	go func() { _ = cmd.Wait(); close(in.exited) }()
	if in.Addr, err = waitReady(ctx, ready, in.exited); err != nil {
		_ = in.Stop()
		return nil, fmt.Errorf("%s: %w\n%s", name, err, Tail(logPath))
	}
	return in, nil
}

func waitReady(ctx context.Context, path string, exited <-chan struct{}) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		// The first line is the address clients use (riffle adds its
		// admin listener on a second line).
		if b, err := os.ReadFile(path); err == nil {
			if first, _, ok := strings.Cut(string(b), "\n"); ok {
				return strings.TrimSpace(first), nil
			}
		}
		select {
		case <-exited:
			return "", ErrExited
		case <-ctx.Done():
			return "", fmt.Errorf("no ready file %s: %w", path, ctx.Err())
		case <-t.C:
		}
	}
}

// Tail returns the end of a log file for an error message.
func Tail(path string) string {
	const n = 4096
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b[max(0, len(b)-n):])
}

// writeReady writes addr and a newline to path atomically.
func writeReady(path, addr string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(addr+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// External is a cluster the harness does not run, reached by its address.
type External struct {
	Label    string
	Protocol string // ProtocolKafka or ProtocolNATS
	Addr     string // bootstrap "host:port" (several comma-separated for Kafka)
	PID      int    // broker process to measure; 0 for none
}

// Name implements Target.
func (e *External) Name() string { return e.Label }

// Start implements Target: it only describes the running cluster.
func (e *External) Start(context.Context) (*Instance, error) {
	return &Instance{Name: e.Label, Protocol: e.Protocol, Addr: e.Addr, PID: e.PID,
		Settings: map[string]string{"started_by": "user", "addr": e.Addr}}, nil
}

package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"

	"github.com/riffle/riffle/daemon/sdnotify"
	"github.com/riffle/riffle/netio"
)

// Start-up timeout extension while logs recover: every extendPeriod, ask
// for extendBy more. Recovery time grows with the data, so no fixed
// TimeoutStartSec fits it; the price is that a hung recovery is not timed
// out (segment reports no progress to tell it from a slow one).
const (
	extendPeriod = 5 * time.Second
	extendBy     = 3 * extendPeriod
)

// probeFileName is the file the watchdog's disk probe writes in the data
// directory; segment.OpenDataDir ignores plain files.
const probeFileName = ".riffle-watchdog-probe"

// systemd reports the broker's life cycle to systemd (see package
// sdnotify); without $NOTIFY_SOCKET every method does nothing.
type systemd struct {
	n            *sdnotify.Notifier
	log          *slog.Logger
	stopWatchdog func() // set by ready when the watchdog runs
}

func newSystemd(log *slog.Logger) *systemd {
	n, err := sdnotify.FromEnv()
	if err != nil {
		// systemd will time the start out; this says why.
		log.Error("riffle: cannot notify systemd", "err", err)
	}
	return &systemd{n: n, log: log}
}

// recovering reports log recovery and keeps extending the start timeout
// until the returned func is called.
func (s *systemd) recovering(dataDir string) (done func()) {
	return s.starting("recovering logs in " + dataDir)
}

// starting reports a start-up phase of unknown length (log recovery,
// waiting for the metadata quorum) and keeps extending the start timeout
// until the returned func is called.
func (s *systemd) starting(phase string) (done func()) {
	s.status(phase)
	return s.n.KeepExtending(extendPeriod, extendBy, s.log)
}

func (s *systemd) status(msg string) {
	if err := s.n.Status(msg); err != nil {
		s.log.Warn("riffle: systemd status", "err", err)
	}
}

// ready sends READY=1 and, if systemd asks for a watchdog, starts pinging
// it while health passes.
func (s *systemd) ready(addr string, health sdnotify.HealthFunc) {
	if err := s.n.Ready("serving on " + addr); err != nil {
		s.log.Warn("riffle: systemd ready", "err", err)
	}
	interval, err := sdnotify.WatchdogInterval()
	if err != nil {
		s.log.Error("riffle: systemd watchdog off", "err", err)
	}
	if s.n == nil || interval == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { sdnotify.RunWatchdog(ctx, s.n, interval, health, s.log) })
	s.stopWatchdog = func() { cancel(); wg.Wait() }
}

// stopping stops the watchdog and sends STOPPING=1: shutdown has begun.
func (s *systemd) stopping() {
	if s.stopWatchdog != nil {
		s.stopWatchdog()
	}
	if err := s.n.Stopping("shutting down"); err != nil {
		s.log.Warn("riffle: systemd stopping", "err", err)
	}
}

// healthProbe is the watchdog's check: the Kafka listener answers an
// ApiVersions request end to end (accept, an event loop, the handler and
// the connection's writer), the data directory takes a write and an
// fdatasync, and no log has stopped taking appends after a failed
// fdatasync (a restart reopens it). Its check is called by one goroutine at
// a time.
type healthProbe struct {
	server     *netio.Server
	dataDir    string
	logsFailed func() error // segment.DataDir.Failed

	diskPending chan error // a disk probe still running, or nil
	diskSince   time.Time
}

func (p *healthProbe) check(ctx context.Context) error {
	return errors.Join(p.kafkaAnswers(ctx), p.dataDirWritable(ctx))
}

// kafkaAnswers checks that the listener accepts (a connection would
// otherwise sit in the backlog), then sends ApiVersions v0 on a fresh
// connection (new connections go to the least loaded event loop) and waits
// for the answer.
func (p *healthProbe) kafkaAnswers(ctx context.Context) error {
	if err := p.server.Accepting(); err != nil {
		return err
	}
	addr := loopbackFor(p.server.Addr())
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("kafka listener %s: %w", addr, err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			return fmt.Errorf("kafka listener %s: %w", addr, err)
		}
	}
	const correlationID = 0x5d
	req := kmsg.NewPtrApiVersionsRequest()
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("riffle-watchdog")).AppendRequest(nil, req, correlationID)
	if _, err := conn.Write(frame); err != nil {
		return fmt.Errorf("kafka listener %s: %w", addr, err)
	}
	var head [8]byte // size, correlation id
	if _, err := io.ReadFull(conn, head[:]); err != nil {
		if errors.Is(err, io.EOF) && p.atConnectionLimit() {
			return nil // the listener answered by refusing: it is full, not stuck
		}
		return fmt.Errorf("kafka listener %s: ApiVersions: %w", addr, err)
	}
	if got := int32(binary.BigEndian.Uint32(head[4:])); got != correlationID {
		return fmt.Errorf("kafka listener %s: ApiVersions answer has correlation id %d, want %d", addr, got, correlationID)
	}
	return nil
}

func (p *healthProbe) atConnectionLimit() bool {
	limit := p.server.MaxConnections()
	return limit > 0 && p.server.Stats().Connections >= int64(limit)
}

// loopbackFor is where to reach a listener bound at addr from this host.
func loopbackFor(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	ip := net.IPv4(127, 0, 0, 1)
	if tcp.IP.To4() == nil {
		ip = net.IPv6loopback
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}

// dataDirWritable writes, syncs and removes a probe file and asks whether
// any log failed (which waits for each log's lock, held across disk writes).
// A probe that outlives ctx keeps running; later checks report it as hung
// until it ends, so a stuck disk never piles up probes.
func (p *healthProbe) dataDirWritable(ctx context.Context) error {
	if p.diskPending == nil {
		p.diskPending, p.diskSince = make(chan error, 1), time.Now()
		go func(done chan<- error, logsFailed func() error) {
			done <- errors.Join(writeProbeFile(filepath.Join(p.dataDir, probeFileName)), logsFailed())
		}(p.diskPending, p.logsFailed)
	}
	select {
	case err := <-p.diskPending:
		p.diskPending = nil
		return err
	case <-ctx.Done():
		return fmt.Errorf("data dir %s: probe write and fdatasync unfinished after %v",
			p.dataDir, time.Since(p.diskSince).Round(time.Millisecond))
	}
}

func writeProbeFile(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("data dir probe: %w", err)
	}
	_, err = f.WriteString(time.Now().UTC().Format(time.RFC3339Nano) + "\n")
	if err == nil {
		err = unix.Fdatasync(int(f.Fd()))
	}
	err = errors.Join(err, f.Close())
	if errors.Is(err, unix.ENOSPC) {
		// A full disk answered, so it is usable: it serves reads, produce
		// answers KAFKA_STORAGE_ERROR, and space may return. Neither start
		// nor the watchdog should fail on it.
		err = nil
	}
	if err == nil {
		err = os.Remove(path)
	}
	if err != nil {
		return fmt.Errorf("data dir probe %s: %w", path, err)
	}
	return nil
}

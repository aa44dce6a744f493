// Package sysprobe measures the machine's own limits in the same run as
// the brokers, so results can be read against them: loopback TCP
// throughput and sequential file writes with and without fdatasync.
package sysprobe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// chunkBytes is the write size of every probe.
const chunkBytes = 1 << 20

// Limits are the probes' results in GB/s (1e9 bytes per second).
type Limits struct {
	LoopbackTCPGBps  float64 `json:"loopback_tcp_gb_per_s"`
	SeqWriteGBps     float64 `json:"seq_write_page_cache_gb_per_s"`
	SeqWriteSyncGBps float64 `json:"seq_write_fdatasync_every_1mib_gb_per_s"`
	ProbeDuration    string  `json:"probe_duration"`
	WriteDir         string  `json:"write_dir"`
	ChunkBytes       int     `json:"chunk_bytes"`
}

// Measure runs every probe for about d each, writing files under dir.
func Measure(ctx context.Context, dir string, d time.Duration) (Limits, error) {
	l := Limits{ProbeDuration: d.String(), WriteDir: dir, ChunkBytes: chunkBytes}
	var err error
	if l.LoopbackTCPGBps, err = Loopback(ctx, d); err != nil {
		return l, err
	}
	if l.SeqWriteGBps, err = SeqWrite(ctx, dir, d, false); err != nil {
		return l, err
	}
	l.SeqWriteSyncGBps, err = SeqWrite(ctx, dir, d, true)
	return l, err
}

// Loopback streams 1 MiB writes over one 127.0.0.1 TCP connection for d
// and returns the rate the receiver read.
func Loopback(ctx context.Context, d time.Duration) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("loopback probe: %w", err)
	}
	defer ln.Close()
	type result struct {
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		n, err := io.Copy(io.Discard, c)
		got <- result{n, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, fmt.Errorf("loopback probe: %w", err)
	}
	buf := make([]byte, chunkBytes)
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return 0, fmt.Errorf("loopback probe: %w", err)
		}
	}
	c.Close()
	r := <-got
	elapsed := time.Since(start)
	if r.err != nil {
		return 0, fmt.Errorf("loopback probe: %w", r.err)
	}
	return float64(r.n) / 1e9 / elapsed.Seconds(), nil
}

// SeqWrite appends 1 MiB chunks to a new file in dir for d, with an
// fdatasync after every chunk if sync, else one at the end (excluded from
// the rate: it measures the page-cache path), and removes the file.
func SeqWrite(ctx context.Context, dir string, d time.Duration, sync bool) (float64, error) {
	f, err := os.CreateTemp(dir, "seqwrite-")
	if err != nil {
		return 0, fmt.Errorf("write probe: %w", err)
	}
	defer os.Remove(filepath.Clean(f.Name()))
	defer f.Close()
	buf := make([]byte, chunkBytes)
	for i := range buf {
		buf[i] = byte(i)
	}
	var n int64
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		if _, err := f.Write(buf); err != nil {
			return 0, fmt.Errorf("write probe: %w", err)
		}
		n += chunkBytes
		if sync {
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				return 0, fmt.Errorf("write probe: fdatasync: %w", err)
			}
		}
	}
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("write probe: %w", err)
	}
	if n == 0 {
		return 0, errors.New("write probe: nothing written")
	}
	return float64(n) / 1e9 / elapsed.Seconds(), nil
}

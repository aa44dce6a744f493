package segment

// Benchmarks of the append path against raw I/O on the same directory, of
// offset lookup and of recovery. Every benchmark writes under b.TempDir(),
// so TMPDIR picks the disk; each states its settings in its name.

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

var benchLogBytes = flag.Int64("riffle.benchlogbytes", 1<<30, "log size of the lookup and recovery benchmarks")

// benchSizes are the batch (and raw chunk) sizes compared.
var benchSizes = []struct {
	name  string
	bytes int
}{{"16KiB", 16 << 10}, {"1MiB", 1 << 20}}

// benchBatch returns an uncompressed batch of records of recBytes values,
// as many as fit in batchBytes.
func benchBatch(recBytes, batchBytes int) []byte {
	value := bytes.Repeat([]byte{'v'}, recBytes)
	recs := make([]Record, max(1, (batchBytes-BatchHeaderSize)/(recBytes+8)))
	for i := range recs {
		recs[i] = Record{Value: value}
	}
	return EncodeBatch(nil, BatchSpec{BaseTimestamp: 1_700_000_000_000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
}

func benchConfig(syncEvery bool) Config {
	c := DefaultConfig()
	c.BatchBytesMax = 2 << 20
	c.SyncEveryAppend = syncEvery
	return c
}

// benchLog is a new log in its own data dir, closed at the benchmark's end.
func benchLog(b *testing.B, cfg Config) *Log {
	d, err := OpenDataDir(b.TempDir(), func(string) Config { return cfg }, Options{Logger: quietLogger})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	l, err := d.CreateLog("bench", 0, cfg)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// benchAppend appends batch b.N times to a new log.
func benchAppend(b *testing.B, batch []byte, syncEvery bool) {
	l := benchLog(b, benchConfig(syncEvery))
	b.SetBytes(int64(len(batch)))
	b.ResetTimer()
	for range b.N {
		if _, err := l.Append(valid(batch), 0); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

// BenchmarkAppend: page-cache mode (no fsync), uncompressed batches.
// Compare with BenchmarkRawSequentialWrite of the same chunk size.
func BenchmarkAppend(b *testing.B) {
	for _, rec := range []struct {
		name  string
		bytes int
	}{{"rec=100B", 100}, {"rec=1KiB", 1 << 10}} {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/batch=%s", rec.name, size.name), func(b *testing.B) {
				benchAppend(b, benchBatch(rec.bytes, size.bytes), false)
			})
		}
	}
}

// rawLog writes chunks sequentially with pwrite into files of at most
// SegmentBytes, as a log without headers, indexes or checks would.
type rawLog struct {
	dir        string
	flag       int
	sync       bool
	f          *os.File
	pos, files int64
}

func (r *rawLog) write(b *testing.B, chunk []byte) {
	if r.f == nil || r.pos+int64(len(chunk)) > DefaultConfig().SegmentBytes {
		r.close(b)
		f, err := os.OpenFile(filepath.Join(r.dir, fmt.Sprintf("raw-%d", r.files)), os.O_RDWR|os.O_CREATE|r.flag, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		r.f, r.pos = f, 0
		r.files++
	}
	if _, err := r.f.WriteAt(chunk, r.pos); err != nil {
		b.Fatal(err)
	}
	r.pos += int64(len(chunk))
	if r.sync {
		if err := unix.Fdatasync(int(r.f.Fd())); err != nil {
			b.Fatal(err)
		}
	}
}

func (r *rawLog) close(b *testing.B) {
	if r.f != nil {
		if err := r.f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRaw(b *testing.B, chunk []byte, flag int, sync bool) {
	r := &rawLog{dir: b.TempDir(), flag: flag, sync: sync}
	defer r.close(b)
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for range b.N {
		r.write(b, chunk)
	}
	b.StopTimer()
}

// BenchmarkRawSequentialWrite: pwrite of fixed chunks, no fsync; the
// ceiling for BenchmarkAppend. "as-batch" chunks are as long as the
// rec=1KiB batches, which leave writes unaligned to pages.
func BenchmarkRawSequentialWrite(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) { benchRaw(b, make([]byte, size.bytes), 0, false) })
		b.Run(size.name+"-as-batch", func(b *testing.B) {
			benchRaw(b, make([]byte, len(benchBatch(1<<10, size.bytes))), 0, false)
		})
	}
}

// alignedBuf returns n bytes aligned for O_DIRECT.
func alignedBuf(n int) []byte {
	const align = 4096
	buf := make([]byte, n+align)
	skip := (align - int(uintptr(unsafe.Pointer(&buf[0]))%align)) % align
	return buf[skip : skip+n]
}

// BenchmarkSyncAppend: fdatasync before each acknowledgement. The log with
// SyncEveryAppend (1 KiB records) against pwrite+fdatasync and against
// O_DIRECT (aligned buffer, 4 KiB-multiple chunks)+fdatasync.
func BenchmarkSyncAppend(b *testing.B) {
	for _, size := range benchSizes {
		b.Run("log/"+size.name, func(b *testing.B) { benchAppend(b, benchBatch(1<<10, size.bytes), true) })
		b.Run("raw-pwrite/"+size.name, func(b *testing.B) { benchRaw(b, make([]byte, size.bytes), 0, true) })
		b.Run("raw-odirect/"+size.name, func(b *testing.B) {
			benchRaw(b, alignedBuf(size.bytes), unix.O_DIRECT, true)
		})
	}
}

// BenchmarkAppendMmapVsPwrite compares the two ways to put appended bytes
// in the page cache, both into preallocated files of segmentFileBytes: pwrite,
// and a copy into a writable shared mapping. No fsync.
func BenchmarkAppendMmapVsPwrite(b *testing.B) {
	const segmentFileBytes = 256 << 20
	for _, size := range benchSizes {
		for _, viaMap := range []bool{false, true} {
			name := map[bool]string{false: "pwrite", true: "mmap"}[viaMap]
			b.Run(name+"/"+size.name, func(b *testing.B) {
				dir, chunk := b.TempDir(), make([]byte, size.bytes)
				var f *os.File
				var m []byte
				pos, files := int64(segmentFileBytes), 0
				roll := func() {
					if m != nil {
						if err := unix.Munmap(m); err != nil {
							b.Fatal(err)
						}
						m = nil
					}
					if f != nil {
						f.Close()
					}
					var err error
					f, err = os.OpenFile(filepath.Join(dir, fmt.Sprint(files)), os.O_RDWR|os.O_CREATE, 0o644)
					if err == nil {
						err = unix.Fallocate(int(f.Fd()), 0, 0, segmentFileBytes)
					}
					if err == nil && viaMap {
						m, err = unix.Mmap(int(f.Fd()), 0, segmentFileBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
					}
					if err != nil {
						b.Fatal(err)
					}
					pos, files = 0, files+1
				}
				b.SetBytes(int64(size.bytes))
				b.ResetTimer()
				for range b.N {
					if pos+int64(len(chunk)) > segmentFileBytes {
						roll()
					}
					if viaMap {
						copy(m[pos:], chunk)
					} else if _, err := f.WriteAt(chunk, pos); err != nil {
						b.Fatal(err)
					}
					pos += int64(len(chunk))
				}
				b.StopTimer()
				if m != nil {
					unix.Munmap(m)
				}
				f.Close()
			})
		}
	}
}

// buildBenchLog writes about *benchLogBytes of 1 KiB records in 16 KiB
// batches to a cleanly closed log in a new data dir; it returns the data
// dir and the log end offset.
func buildBenchLog(b *testing.B) (string, int64) {
	dir := b.TempDir()
	cfg := benchConfig(false)
	d, err := OpenDataDir(dir, func(string) Config { return cfg }, Options{Logger: quietLogger})
	if err != nil {
		b.Fatal(err)
	}
	l, err := d.CreateLog("bench", 0, cfg)
	if err != nil {
		b.Fatal(err)
	}
	batch := benchBatch(1<<10, 16<<10)
	for written := int64(0); written < *benchLogBytes; written += int64(len(batch)) {
		if _, err := l.Append(valid(batch), 0); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	if err := d.Close(); err != nil {
		b.Fatal(err)
	}
	return dir, leo
}

// BenchmarkLookup: Read of a random offset in a log of -riffle.benchlogbytes
// (default 1 GiB) of 16 KiB batches, warm page cache: "one-batch" asks for
// one batch, "fetch-1MiB" for a 1 MiB region as a fetch does.
func BenchmarkLookup(b *testing.B) {
	dir, leo := buildBenchLog(b)
	cfg := benchConfig(false)
	d, err := OpenDataDir(dir, func(string) Config { return cfg }, Options{Logger: quietLogger})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	l := d.Log("bench", 0)
	for _, tc := range []struct {
		name     string
		maxBytes int32
	}{{"one-batch", 1}, {"fetch-1MiB", 1 << 20}} {
		b.Run(tc.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			for range b.N {
				r, err := l.Read(rng.Int64N(leo), tc.maxBytes, leo, true)
				if err != nil || r.Len == 0 {
					b.Fatalf("read: %d bytes, %v", r.Len, err)
				}
				r.Release()
			}
		})
	}
}

// BenchmarkRecovery: opening a data dir whose log of -riffle.benchlogbytes
// (default 1 GiB, one segment) stopped uncleanly with no recovery point, so
// every batch is rescanned and the indexes rebuilt. "cold" drops the files
// from the page cache first.
func BenchmarkRecovery(b *testing.B) {
	built, leo := buildBenchLog(b)
	part := filepath.Join(built, "bench-0")
	for _, cold := range []bool{false, true} {
		b.Run(map[bool]string{false: "warm", true: "cold"}[cold], func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				// A data dir without the clean-shutdown marker and the
				// recovery-point checkpoint: an unclean stop before any
				// checkpoint. It lives under built, which outlasts every
				// run of this sub-benchmark.
				dir, err := os.MkdirTemp(built, "run")
				if err != nil {
					b.Fatal(err)
				}
				moved := filepath.Join(dir, "bench-0")
				if err := os.Rename(part, moved); err != nil {
					b.Fatal(err)
				}
				part = moved
				if cold {
					dropPageCache(b, part)
				}
				cfg := benchConfig(false)
				b.StartTimer()
				d, err := OpenDataDir(dir, func(string) Config { return cfg }, Options{Logger: quietLogger})
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if got := d.Log("bench", 0).LogEndOffset(); got != leo {
					b.Fatalf("recovered LEO %d, want %d", got, leo)
				}
				b.ReportMetric(d.RecoveryDuration().Seconds(), "recovery-s")
				if err := d.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(*benchLogBytes)
		})
	}
}

// dropPageCache writes back and evicts every file in dir from the page
// cache, so the next read comes from the disk.
func dropPageCache(b *testing.B, dir string) {
	names, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n.Name()))
		if err != nil {
			b.Fatal(err)
		}
		err = unix.Fdatasync(int(f.Fd()))
		if err == nil {
			err = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		}
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteReplicated: a follower writing fetch answers of 256
// batches of 4 KiB, adjacent in memory as a fetch answer holds them (one
// write per run), against the same batches apart (one write each).
func BenchmarkWriteReplicated(b *testing.B) {
	for _, adjacent := range []bool{true, false} {
		b.Run(fmt.Sprintf("adjacent=%v", adjacent), func(b *testing.B) {
			l := benchLog(b, benchConfig(false))
			one := benchBatch(1<<10, 4<<10)
			records := int64(binary.BigEndian.Uint32(one[offRecordCount:]))
			// One buffer holding the answer, or one per batch.
			bufs := [][]byte{bytes.Repeat(one, 256)}
			if !adjacent {
				bufs = bufs[:0]
				for range 256 {
					bufs = append(bufs, bytes.Clone(one))
				}
			}
			b.SetBytes(int64(256 * len(one)))
			next := int64(0)
			for b.Loop() {
				var batches []Batch
				for _, buf := range bufs {
					for pos := 0; pos < len(buf); pos += len(one) {
						SetBaseOffset(buf[pos:], next)
						next += records
					}
					vs, err := ValidateBatches(buf, math.MaxInt32)
					if err != nil {
						b.Fatal(err)
					}
					batches = append(batches, vs...)
				}
				if _, _, err := l.WriteReplicated(batches); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

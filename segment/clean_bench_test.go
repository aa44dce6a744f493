package segment

import (
	"fmt"
	"testing"

	"github.com/riffle/riffle/segment/codec"
)

// BenchmarkClean cleans a 16 MiB log on the memory filesystem (the clean
// is CPU-bound: decompress, hash, recompress) of 100-record batches of
// ~100-byte records over 10,000 keys, every record dirty; MB/s is of the
// log's bytes, each read twice (map, rewrite).
func BenchmarkClean(b *testing.B) {
	for _, id := range []int8{codec.None, codec.LZ4, codec.Zstd} {
		b.Run(fmt.Sprintf("codec=%d", id), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Compact, cfg.SegmentBytes, cfg.RetentionMs = true, 16<<20, -1
			recs := make([]Record, 100)
			var size int64
			for i := range b.N {
				b.StopTimer()
				mem, dir := memDataDir(b)
				d, err := OpenDataDir(dir, func(string) Config { return cfg }, Options{FS: mem, Logger: quietLogger})
				if err != nil {
					b.Fatal(err)
				}
				l, err := d.CreateLog("bench", 0, cfg)
				if err != nil {
					b.Fatal(err)
				}
				for n := 0; l.SizeBytes() < 16<<20; n++ {
					for j := range recs {
						v := uint64(n*100+j) * 0x9E3779B97F4A7C15 // incompressible-ish values
						recs[j] = Record{Key: fmt.Appendf(nil, "key-%d", (n*100+j*7919+i)%10000),
							Value: fmt.Appendf(nil, "%020d-%020d-%020d-%020d", v, v>>7, v>>13, v>>29)}
					}
					batch := EncodeBatch(nil, BatchSpec{BaseTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
					if id != codec.None {
						batch = compressBatch(b, batch, id, batch[BatchHeaderSize:])
					}
					if _, err := l.Append(valid(batch), 0); err != nil {
						b.Fatal(err)
					}
				}
				if err := l.Flush(); err != nil {
					b.Fatal(err)
				}
				size = l.SizeBytes()
				b.StartTimer()
				res, err := l.Clean(CleanLimits{StableOffset: l.LogEndOffset(), DedupeBufferBytes: 128 << 20})
				if err != nil || res.Segments == 0 {
					b.Fatalf("clean: %v, %d segments", err, res.Segments)
				}
				b.StopTimer()
				_ = d.Close()
			}
			b.SetBytes(size)
		})
	}
}

package codec_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/riffle/riffle/segment/codec"
	"github.com/riffle/riffle/segment/codec/codectest"
)

func decompress(id int8, src []byte, limit int64) ([]byte, error) {
	r, release, err := codec.NewReader(id, src, limit)
	if err != nil {
		return nil, err
	}
	defer release()
	return io.ReadAll(r)
}

func TestRoundTrip(t *testing.T) {
	for _, id := range codectest.Compressed {
		for _, n := range []int{1, 100, 300 << 10} {
			raw := bytes.Repeat([]byte("record bytes "), n)[:n]
			// Twice: the second read reuses a pooled decoder.
			for range 2 {
				got, err := decompress(codectest.WireID(id), codectest.Compress(t, id, raw), int64(n))
				if err != nil || !bytes.Equal(got, raw) {
					t.Fatalf("codec %d, %d bytes: got %d bytes, %v", id, n, len(got), err)
				}
			}
		}
	}
}

// A stream that ends exactly at the limit is whole; one byte more is not.
func TestLimitExact(t *testing.T) {
	raw := bytes.Repeat([]byte("a"), 100)
	for _, id := range codectest.Compressed {
		src := codectest.Compress(t, id, raw)
		for limit, wantErr := range map[int64]bool{99: true, 100: false, 101: false} {
			got, err := decompress(codectest.WireID(id), src, limit)
			if wantErr != errors.Is(err, codec.ErrCorrupt) || (!wantErr && len(got) != 100) {
				t.Errorf("codec %d, limit %d: %d bytes, err %v", id, limit, len(got), err)
			}
		}
	}
}

// A small input that decompresses to far more than the limit is refused
// without decompressing it all.
func TestZipBomb(t *testing.T) {
	raw := make([]byte, 8<<20)
	for _, id := range codectest.Compressed {
		src := codectest.Compress(t, id, raw)
		if _, err := decompress(codectest.WireID(id), src, 4<<20); !errors.Is(err, codec.ErrCorrupt) {
			t.Errorf("codec %d: %d bytes in: %v", id, len(src), err)
		}
	}
}

func TestCorrupt(t *testing.T) {
	garbage := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 16)
	whole := bytes.Repeat([]byte("abcdefgh"), 4096)
	for _, id := range []int8{codec.Gzip, codec.Snappy, codec.LZ4, codec.Zstd} {
		if _, err := decompress(id, garbage, 1<<20); !errors.Is(err, codec.ErrCorrupt) {
			t.Errorf("codec %d garbage: %v", id, err)
		}
		src := codectest.Compress(t, id, whole)
		if got, err := decompress(id, src[:len(src)/2], 1<<20); err == nil {
			t.Errorf("codec %d cut in half: %d bytes, no error", id, len(got))
		}
	}
	// An xerial header, then a chunk whose length runs past the end.
	xerialTruncated := []byte("\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x01\x00\x05")
	if _, err := decompress(codec.Snappy, xerialTruncated, 1<<20); !errors.Is(err, codec.ErrCorrupt) {
		t.Errorf("xerial chunk past the end: %v", err)
	}
}

func TestUnsupported(t *testing.T) {
	for _, id := range []int8{codec.None, 5, 7} {
		if _, _, err := codec.NewReader(id, []byte{1, 2, 3}, 1<<20); !errors.Is(err, codec.ErrUnsupported) {
			t.Errorf("codec %d: %v", id, err)
		}
	}
}

func TestDecompressedBytesMax(t *testing.T) {
	if got := codec.DecompressedBytesMax(1 << 20); got != 64<<20 {
		t.Errorf("1 MiB batches: %d", got)
	}
	if got := codec.DecompressedBytesMax(1 << 30); got != 512<<20 {
		t.Errorf("1 GiB batches: %d, want the 512 MiB cap", got)
	}
}

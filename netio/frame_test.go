package netio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// chunkedInbound stands in for gnet's inbound buffer: bytes arrive in
// chunks, and Read hands out at most readMax bytes a call (as gnet's ring
// buffer does at its wrap point).
type chunkedInbound struct {
	buf     []byte
	readMax int
}

func (in *chunkedInbound) InboundBuffered() int { return len(in.buf) }

func (in *chunkedInbound) Peek(n int) ([]byte, error) {
	if n > len(in.buf) {
		return nil, io.ErrShortBuffer
	}
	return in.buf[:n], nil
}

func (in *chunkedInbound) Discard(n int) (int, error) {
	n = min(n, len(in.buf))
	in.buf = in.buf[n:]
	return n, nil
}

func (in *chunkedInbound) Read(p []byte) (int, error) {
	if len(in.buf) == 0 && len(p) > 0 {
		return 0, io.ErrShortBuffer
	}
	n := copy(p[:min(len(p), in.readMax)], in.buf)
	in.buf = in.buf[n:]
	return n, nil
}

// referenceFrames parses a whole stream at once: the frames before the
// first bad size prefix or incomplete frame, whether a bad prefix stopped
// it, and the unparsed rest.
func referenceFrames(stream []byte, maxBytes int32) (frames [][]byte, bad bool, rest []byte) {
	for len(stream) >= 4 {
		size := int32(binary.BigEndian.Uint32(stream))
		if size < 0 || size > maxBytes {
			return frames, true, stream
		}
		if len(stream) < 4+int(size) {
			break
		}
		frames = append(frames, stream[4:4+size])
		stream = stream[4+size:]
	}
	return frames, false, stream
}

func FuzzFraming(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 0, 0, 0, 0, 1}, uint64(1))
	f.Add([]byte{0, 0, 1, 0, 'x'}, uint64(2))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3}, uint64(3))
	f.Add(append(frameBytes(bytes.Repeat([]byte{7}, 40)), frameBytes([]byte("next"))...), uint64(4))
	f.Fuzz(func(t *testing.T, stream []byte, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, seed>>7))
		maxBytes := int32(seed % 100)
		in := &chunkedInbound{readMax: 1 + rng.IntN(16)}
		var fr framer
		reserve := func(int) bool { return true }
		var got [][]byte
		var gotErr error
		for rest := stream; len(rest) > 0 && gotErr == nil; {
			n := min(len(rest), rng.IntN(12))
			in.buf = append(in.buf, rest[:n]...)
			rest = rest[n:]
			for {
				frame, err := fr.next(in, maxBytes, 1, reserve)
				if err != nil {
					gotErr = err
					break
				}
				if frame == nil {
					break
				}
				got = append(got, bytes.Clone(*frame))
				putBuf(frame)
			}
		}
		want, bad, wantRest := referenceFrames(stream, maxBytes)
		if len(got) != len(want) {
			t.Fatalf("got %d frames, want %d", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("frame %d: got %x, want %x", i, got[i], want[i])
			}
		}
		if bad != (gotErr != nil) {
			t.Fatalf("error %v, reference says bad=%v", gotErr, bad)
		}
		if bad && !errors.Is(gotErr, ErrFrameTooLarge) && !errors.Is(gotErr, ErrFrameSizeNegative) {
			t.Fatalf("unexpected error %v", gotErr)
		}
		left := in.buf
		if fr.frame != nil { // taken in: its size prefix and the bytes so far
			left = binary.BigEndian.AppendUint32(nil, uint32(len(*fr.frame)))
			left = append(append(left, (*fr.frame)[:fr.filled]...), in.buf...)
		}
		if !bad && !bytes.Equal(left, wantRest) {
			t.Fatalf("left %x unframed, want %x", left, wantRest)
		}
	})
}

func TestBufPoolSizes(t *testing.T) {
	for _, n := range []int{0, 1, 512, 513, 4096, 1 << maxPooledShift, 1<<maxPooledShift + 1} {
		b := getBuf(n)
		if len(*b) != n {
			t.Fatalf("getBuf(%d) has length %d", n, len(*b))
		}
		putBuf(b)
		if b2 := getBuf(n); len(*b2) != n {
			t.Fatalf("reused getBuf(%d) has length %d", n, len(*b2))
		}
	}
}

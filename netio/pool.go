package netio

import (
	"math/bits"
	"sync"
)

// Frame and scratch buffers come from power-of-two size classes so a pooled
// buffer fits any request up to its class; larger ones are not pooled: a
// pool keeps what the busiest moment took (and up to twice the frame's
// size, by the rounding) through two garbage collections, which under a
// producer load of multi-MiB requests held hundreds of MiB after the load
// stopped. Large frames are allocated and collected instead.
const (
	minPooledShift = 9  // 512 B
	maxPooledShift = 20 // 1 MiB, the writer's copy scratch
)

var bufPools [maxPooledShift - minPooledShift + 1]sync.Pool

// sizeClass is the pool index for a buffer of n bytes, or -1 if n is too
// large to pool.
func sizeClass(n int) int {
	if n <= 1<<minPooledShift {
		return 0
	}
	shift := bits.Len(uint(n - 1))
	if shift > maxPooledShift {
		return -1
	}
	return shift - minPooledShift
}

// getBuf returns a buffer of length n.
func getBuf(n int) *[]byte {
	class := sizeClass(n)
	if class < 0 {
		b := make([]byte, n)
		return &b
	}
	if b, ok := bufPools[class].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<(class+minPooledShift))
	return &b
}

// putBuf returns b to its pool; b must not be used afterwards.
func putBuf(b *[]byte) {
	class := sizeClass(cap(*b))
	if class < 0 || cap(*b) != 1<<(class+minPooledShift) {
		return
	}
	bufPools[class].Put(b)
}

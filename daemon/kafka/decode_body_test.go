package kafka

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/riffle/riffle/internal/kafkatest"
	"github.com/riffle/riffle/kafkawire"
)

// flexibleRest is what follows a request header prefix for a flexible
// request: the header's empty tag section, then the body.
func flexibleRest(body string) []byte { return []byte("\x00" + body) }

// TestServedRequestsDecode encodes every served API version with every
// field set and an unknown tag in each tag section: each passes the wire
// check and decodes.
func TestServedRequestsDecode(t *testing.T) {
	for key, a := range apis {
		for v := a.minVersion; v <= a.maxVersion; v++ {
			req := kafkatest.Filled(key)
			req.SetVersion(v)
			var rest []byte
			if req.IsFlexible() {
				rest = flexibleRest("")
			}
			if _, err := kafkawire.DecodeRequestBody(kafkawire.RequestHeader{APIKey: key, APIVersion: v}, req.AppendTo(rest)); err != nil {
				t.Errorf("%v", err)
			}
		}
	}
}

// cpuBound is the most CPU a decode may take: far above what a linear
// decode needs even on a loaded machine, far below the seconds an
// unbounded tag count costs.
func cpuBound(bodyBytes int) time.Duration {
	return 5*time.Millisecond + time.Duration(bodyBytes)*20*time.Microsecond
}

// threadCPU is the CPU time of the calling OS thread.
func threadCPU(t *testing.T) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// FuzzDecodeBody decodes fuzzed bodies of every served API version: the
// wire check and kmsg's decode together never take more than cpuBound.
// Without the wire check the first three seeds take kmsg 64 s, 1.2 s and
// 50 s of CPU.
func FuzzDecodeBody(f *testing.F) {
	const maxUvarint = "\xff\xff\xff\xff\x0f"
	f.Add(int16(18), int16(3), flexibleRest("\x02x\x021"+maxUvarint)) // ApiVersions v3, the 31-byte frame's body
	f.Add(int16(23), int16(4), flexibleRest("0000\x02\a000000\x10000000000"+strings.Repeat("\x97", 6)+"000000"))
	f.Add(int16(1), int16(12), flexibleRest( // Fetch v12: the tag count inside a ReplicaState tag
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"+
			"\x01\x01\x01"+"\x01\x01\x11"+"\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02"+maxUvarint))
	for key, a := range apis {
		for _, v := range []int16{a.minVersion, a.maxVersion} {
			req := kafkatest.Filled(key)
			req.SetVersion(v)
			var rest []byte
			if req.IsFlexible() {
				rest = flexibleRest("")
			}
			f.Add(key, v, req.AppendTo(rest))
		}
	}
	f.Fuzz(func(t *testing.T, key, version int16, rest []byte) {
		if a := apis[key]; a == nil || version < a.minVersion || version > a.maxVersion {
			return
		}
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		took, err := decodeCPU(t, key, version, rest)
		if took > cpuBound(len(rest)) {
			// A stall of the thread (page faults in a fresh worker, a GC
			// assist) does not repeat; a loop does.
			took, _ = decodeCPU(t, key, version, rest)
		}
		if took > cpuBound(len(rest)) {
			t.Fatalf("api key %d v%d: decoding %d bytes took %v of CPU (error %v)", key, version, len(rest), took, err)
		}
	})
}

// decodeCPU runs kafkawire.DecodeRequestBody and returns the CPU time it took (the caller
// is locked to its thread).
func decodeCPU(t *testing.T, key, version int16, rest []byte) (time.Duration, error) {
	start := threadCPU(t)
	_, err := kafkawire.DecodeRequestBody(kafkawire.RequestHeader{APIKey: key, APIVersion: version}, rest)
	return threadCPU(t) - start, err
}

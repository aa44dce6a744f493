// Package testport hands tests loopback ports for programs (or configs)
// that must know an address before they bind it.
package testport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"
)

// Free reserves n distinct loopback ports, holding them all until the last
// is known so none repeats, then releases them. They are drawn below the
// kernel's ephemeral range when it leaves room: a port from that range can
// be taken, between its release and the program's bind, as the source port
// of any outgoing connection (a client of a parallel test), and the bind
// then fails with "address already in use".
func Free(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	low := ephemeralLow()
	for draws := 0; len(ports) < n; draws++ {
		addr := "127.0.0.1:0"
		if low > belowEphemeralFrom+1000 && draws < 1000 {
			addr = fmt.Sprintf("127.0.0.1:%d", belowEphemeralFrom+rand.IntN(low-belowEphemeralFrom))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if addr != "127.0.0.1:0" {
				continue // taken: draw again
			}
			t.Fatalf("testport: reserve a port: %v", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// Addrs are n distinct loopback host:ports from Free.
func Addrs(t testing.TB, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i, port := range Free(t, n) {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", port)
	}
	return addrs
}

// Addr is one loopback host:port from Free.
func Addr(t testing.TB) string {
	t.Helper()
	return Addrs(t, 1)[0]
}

// belowEphemeralFrom is the lowest port Free draws: above the ports
// well-known services use.
const belowEphemeralFrom = 20000

// ephemeralLow is the first port of the kernel's ephemeral range, or 0
// when it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	var low, high int
	if _, err := fmt.Sscan(string(b), &low, &high); err != nil {
		return 0
	}
	return low
}

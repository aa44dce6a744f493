// Package brokertest runs real riffle processes for end-to-end tests.
//
// Each Broker has its own data directory (t.TempDir(), or one the test
// gives StartInDir) and listens on 127.0.0.1 at a port the broker picks, so
// tests may run in parallel. The
// harness learns the ports through the ready-file contract: riffle started
// with --ready-file PATH writes its bound addresses, one "host:port" a line
// (the Kafka listener, then the admin listener), atomically to PATH once the
// listeners are bound and recovery is done (daemon.WriteReadyFile writes it,
// ParseReadyFile reads it). The harness polls for that file with a deadline
// and notices an early exit.
//
// The riffle binary is built once per test process with `go build`, or taken
// from $RIFFLE_BIN. A package using Start needs
//
//	func TestMain(m *testing.M) { os.Exit(brokertest.Run(m)) }
//
// Typical use:
//
//	b := brokertest.Start(t, "--set", "log.segment_bytes=65536")
//	client := newClient(b.Addr())
//	b.Kill()    // crash
//	b.Restart() // same data directory, same port
//
// A broker's stdout and stderr go to a file; if the test fails, its tail is
// logged when the test ends.
package brokertest

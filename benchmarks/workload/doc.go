// Package workload describes one benchmark scenario: topics and
// partitions, producers and consumers, record size and keys, producer
// settings (acks, linger, batch size, compression, idempotence), the
// offered rate and how long to run. Scenarios are TOML files, modelled on
// OpenMessaging Benchmark's workloads (see benchmarks/scenarios/), and any
// field can be overridden from the command line with Set.
//
// The first 8 bytes of every record value hold the record's intended send
// time (Unix nanoseconds, big endian); Stamp and StampOf read and write it,
// so acknowledgement and end-to-end latency are measured from the schedule,
// not from when the client got around to sending.
package workload

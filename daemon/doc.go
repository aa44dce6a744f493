// Package daemon is the riffle broker process: it reads the configuration,
// wires storage (segment), metadata (quorum), the replica manager
// (daemon/replicas: partitions, their roles and replication), the Kafka API
// (daemon/kafka) and the listener (netio) together, and runs them until its
// context ends.
//
// Configuration comes in layers, each over the one before:
//
//	embedded default.toml      (DefaultConfig; config.toml at the repository
//	                            root is the same file, every key documented)
//	--config FILE              (Config.LoadConfigFile; unknown keys refused)
//	--set section.key=value    (Config.Set; named flags such as --listen are
//	and named flags             shorthands; the last mention of a key wins)
//
// and Config.Validate then checks every key against the limits in its struct
// tags and the rules between keys. ParseArgs does all of that for Main.
//
// Exit codes: 0 after --help, --version or a graceful shutdown, ExitUsage
// (2) for a bad command line or configuration, ExitListen (3) for a listener
// that cannot bind, ExitDataDir (4) for a data directory that cannot be used
// or is locked by another broker (dirlock.go), 1 for any other failure.
//
// Logs go through a rate limiter (loglimit.go) once the broker serves.
//
// Ready file: with broker.ready_file (--ready-file) set, once the listeners
// are bound and recovery is done the broker writes their bound addresses, one
// "host:port" a line (Kafka first, then admin if enabled), atomically to that
// path (WriteReadyFile). Tests and scripts wait for it instead of guessing
// when the broker serves or which port it picked; internal/brokertest is the
// reader.
package daemon

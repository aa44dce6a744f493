// Package cli is riffle's admin command line: `riffle topic ...`, `riffle
// group ...`, `riffle produce` and `riffle consume`. Every command speaks
// the Kafka protocol (franz-go's kgo and kadm), so it works against any
// Kafka-compatible broker, not only riffle; it is what kafka-topics.sh,
// kafka-consumer-groups.sh and rpk give their users.
//
// Files: cli.go (dispatch, flags, errors and exit codes), output.go (tables
// and JSON), topic.go, group.go, reset.go (group reset-offsets), produce.go,
// consume.go, logdirs.go (topic delete-records, log-dirs), topic_elect.go
// (topic elect-leaders), topic_reassign.go (topic reassign), user.go (SCRAM
// users), acl.go, quota.go (client quotas), security.go (the TLS and SASL
// flags every command takes).
//
// Output: readable tables on stdout (text/tabwriter), or with --json one
// JSON document for the table commands and one JSON object per line for
// produce and consume. Problems go to stderr, prefixed with the command.
//
// Exit codes: 0 on success; 1 when the broker could not be reached or
// refused something (the message carries Kafka's error name, e.g.
// UNKNOWN_TOPIC_OR_PARTITION); 2 for a bad command line, which would fail
// the same way again.
package cli

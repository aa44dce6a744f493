// Package e2e holds the end-to-end tests: a real riffle process on loopback
// (internal/brokertest) driven by real Kafka clients: franz-go in Go, and
// kcat, python3-confluent-kafka and kafkajs as separate programs.
package e2e

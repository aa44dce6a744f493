// Package chaos is riffle-bench's fault-injection run: a cluster of real
// riffle processes, each in its own network namespace, under a seeded
// schedule of kills, pauses, partitions, packet loss and delay, with a
// franz-go workload whose every acknowledgement, read and committed
// offset is recorded and judged afterwards by package check.
//
// A run, in order (Run):
//
//	netns.Setup            namespaces, veth pairs, bridge (torn down on every path)
//	cluster.start          one riffle per namespace, listeners on its address
//	admin.createTopic      chaos and chaos-txn: nodes+1 partitions, RF 3, min.insync.replicas 2 (1 and unclean election with -unclean)
//	startClients           2 idempotent acks=all producers, -txn-producers transactional ones, 2 group consumers,
//	                       a direct reader, a read_committed reader of chaos-txn, a commit observer
//	nemesis.run            the schedule (seeded), each fault healed after its hold
//	heal, flush, drain     cuts lifted, nodes resumed and restarted, full ISR, readers caught up
//	readFinal              the final log, from a fresh reader
//	hashSegments           the replicas' .log files, once sizes agree and the nodes are stopped
//	check.Check            the anomalies
//
// Files: cluster.go (processes), admin.go (raw Kafka requests), workload.go
// (clients and the recorded history), txn.go (the transactional producers), nemesis.go (schedule and
// injection), run.go (the run, recovery and unavailability figures),
// report.go (chaos.json, chaos.txt, chaos.png, history.json.gz).
package chaos

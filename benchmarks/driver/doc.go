// Package driver runs a workload.Scenario against one messaging system:
// it creates the topics, starts the consumers, paces the producers at the
// scenario's rate, waits for acknowledgements and for the consumers to
// catch up, and returns a stats.Summary.
//
// Pacing is open-loop: record i of a producer is due at start + i/rate and
// is stamped with that due time, whether or not the client was ready to
// take it then. A broker that stalls delays every later acknowledgement
// and receipt, and the delay shows in the latency histograms instead of
// silently lowering the offered rate (no coordinated omission). With rate
// 0 (max rate) the stamp is the time the record was handed to the client.
//
// Systems plug in through the System interface; kafkadrv (franz-go) and
// natsdrv (NATS JetStream) implement it.
package driver

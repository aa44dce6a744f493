// Package stats records what a benchmark run measures: acknowledged and
// consumed records and bytes, and produce-to-acknowledgement and end-to-end
// latency as HDR histograms, overall and per one-second interval.
//
// Every producer and consumer records into its own Shard, so the hot path
// takes an uncontended lock; a Recorder merges the shards for the progress
// line and the final Summary. Latency is measured from a record's intended
// send time, and only records intended after the warm-up count.
package stats

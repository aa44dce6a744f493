// Package report turns benchmark runs into what people and machines read:
// a JSON document with every setting and figure, a text table, ratios
// between targets of a comparison, and PNG plots of throughput over time
// and latency percentiles over time.
package report

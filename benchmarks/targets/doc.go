// Package targets starts and stops the systems a benchmark runs against,
// each as its own process so its CPU time and memory can be read from
// /proc: Riffle built from the parent repository, franz-go's kfake and an
// embedded NATS server (both run by re-executing the harness binary with
// its "serve" command, see ServeKfake and ServeNATS), or an External
// cluster that is already running.
//
// Every target writes its bound address to a ready file once it serves;
// Start waits for that file, so ports are picked by the kernel (:0).
package targets

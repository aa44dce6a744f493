// Package codec decompresses the records section of a v2 record batch: the
// codecs a batch's attributes name (gzip, snappy, lz4, zstd), read as a
// stream with a bound on the decompressed size.
//
// Kafka's framings: gzip is a gzip stream; snappy is snappy-java's xerial
// framing (a 16-byte header, then chunks of a 4-byte big-endian length and a
// snappy block), or one plain snappy block as some clients send; lz4 is an
// lz4 frame; zstd is a zstd frame. Decoders are pooled, since a busy
// producer sends many batches a second.
//
// Every decoder failure, and output past the limit given (a zip bomb), is
// ErrCorrupt; an unknown codec id is ErrUnsupported. The broker's produce
// path uses it to validate records, the segment package to find the exact
// record of a timestamp inside a compressed batch.
package codec

// Package kafka serves Kafka's binary protocol on top of replica and quorum.
//
// A request frame (the bytes after the 4-byte size prefix, handed over by
// netio) is parsed here: the request header by hand (package kafkawire), the body
// walked by its schema first (kafkawire/wirecheck: no count read from the
// wire may exceed the bytes left, which kmsg does not check for tag
// sections), then decoded with franz-go's kmsg and dispatched to the API's
// handler. Each API key
// lives in its own file named after the key (00_produce.go, 01_fetch.go, ...)
// and registers the versions it serves; ApiVersions advertises exactly the
// registered ranges. Every response but Fetch is encoded with kmsg; Fetch is
// encoded by hand as bytes and file regions so record bytes go out by
// sendfile. Kafka error codes are chosen in one place (errors.go).
//
// Client input never panics the broker: a frame that cannot be parsed, an
// unknown API key or an unsupported version closes the connection (as Kafka
// does), except ApiVersions, which answers UNSUPPORTED_VERSION with the
// supported ranges so clients can downgrade, and an API key kmsg knows but
// we do not serve, answered UNSUPPORTED_VERSION in its response's top-level
// error code where it has one (unserved.go). Per-partition problems are
// error codes in the response.
//
// Security: each connection carries a session (sasl.go): its principal
// (the client certificate's on SSL listeners, the SASL user on SASL ones,
// else ANONYMOUS) and, on SASL listeners, the authentication state that
// lets only ApiVersions and the SASL APIs through until it succeeds. With
// an authorizer, authorize.go checks each request against the ACLs before
// its handler runs. listeners.go answers each listener's own endpoint.
// quota.go measures each client against its quotas after its request is
// served and throttles one over them (throttle_time_ms, and the connection
// muted through netio.Conn.Mute).
//
// An Observer (observe.go), if configured, is told each request's timings,
// every error code its response carries (found by walking the response, so
// no handler has to report them) and each partition's produced and fetched
// bytes; the daemon turns these into metrics.
package kafka

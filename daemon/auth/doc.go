// Package auth is the listeners' security: the listener model (Kafka's
// listeners, advertised.listeners and security protocols), TLS
// configuration reloaded without dropping connections, and the principal a
// client certificate maps to.
//
// # Files
//
//	listeners.go  listener and advertised-listener parsing, protocols
//	tls.go        TLSSource: certificate, key and CA files, reloads; CertPrincipal
package auth

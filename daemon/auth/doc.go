// Package auth is the listeners' security: the listener model (Kafka's
// listeners, advertised.listeners and security protocols), TLS
// configuration reloaded without dropping connections, the principal a
// client certificate maps to, and how this node dials other nodes (TLS
// with its own certificate, the client side of a SASL mechanism).
//
// # Files
//
//	listeners.go  listener and advertised-listener parsing, protocols
//	tls.go        TLSSource: certificate, key and CA files, reloads; CertPrincipal
//	dial.go       PeerDialer (TCP or TLS to another node), ClientMechanism
package auth

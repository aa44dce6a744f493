package kafka

import (
	"github.com/riffle/riffle/daemon/auth"
)

// endpoint is where a client on listener reaches broker id, registered at
// host:port (its inter-broker listener): for this broker, its own endpoint
// on that listener, as Kafka answers with the endpoints of the listener
// a request came in on. Other brokers are named by their registered
// endpoint: the metadata log holds one endpoint a broker.
func (b *Broker) endpoint(listener string, id int32, host string, port int32) (string, int32) {
	if l, ok := b.cfg.Listeners[listener]; ok && id == b.cfg.NodeID {
		return l.Endpoint.Host, l.Endpoint.Port
	}
	return host, port
}

// listenerProtocol is the security protocol of the listener a connection
// came in on; PLAINTEXT when the broker was given no listeners (tests).
func (b *Broker) listenerProtocol(listener string) auth.Protocol {
	if l, ok := b.cfg.Listeners[listener]; ok {
		return l.Protocol
	}
	return auth.Plaintext
}

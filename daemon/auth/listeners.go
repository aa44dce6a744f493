package auth

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Protocol is a listener's security protocol, Kafka's names.
type Protocol string

const (
	Plaintext     Protocol = "PLAINTEXT"
	SSL           Protocol = "SSL"
	SASLPlaintext Protocol = "SASL_PLAINTEXT"
	SASLSSL       Protocol = "SASL_SSL"
)

// TLS reports whether the protocol runs over TLS.
func (p Protocol) TLS() bool { return p == SSL || p == SASLSSL }

// SASL reports whether clients must authenticate with SASL.
func (p Protocol) SASL() bool { return p == SASLPlaintext || p == SASLSSL }

func parseProtocol(s string) (Protocol, bool) {
	switch p := Protocol(strings.ToUpper(s)); p {
	case Plaintext, SSL, SASLPlaintext, SASLSSL:
		return p, true
	}
	return "", false
}

// Listener is one entry of listeners: NAME://host:port, its protocol from
// listener_security_protocol_map or, without an entry there, its name.
type Listener struct {
	Name     string
	Protocol Protocol
	Addr     string // host:port; port 0 picks one
}

// Endpoint is a listener's advertised address.
type Endpoint struct {
	Host string
	Port int32
}

// ParseListeners parses Kafka's listeners syntax ("NAME://host:port,...",
// an empty host meaning every address) with the protocol map
// ("NAME:PROTOCOL,..."). Names are unique and, without a map entry, must
// be a protocol's name.
func ParseListeners(listeners, protocolMap string) ([]Listener, error) {
	protocols := map[string]Protocol{}
	for _, entry := range splitList(protocolMap) {
		name, proto, ok := strings.Cut(entry, ":")
		p, known := parseProtocol(proto)
		if !ok || !known || name == "" {
			return nil, fmt.Errorf("protocol map entry %q: want NAME:PROTOCOL, PROTOCOL one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL", entry)
		}
		protocols[strings.ToUpper(name)] = p
	}
	var out []Listener
	for _, entry := range splitList(listeners) {
		name, addr, ok := strings.Cut(entry, "://")
		if !ok || name == "" {
			return nil, fmt.Errorf("listener %q: want NAME://host:port", entry)
		}
		name = strings.ToUpper(name)
		if err := CheckHostPort(addr); err != nil {
			return nil, fmt.Errorf("listener %q: %w", entry, err)
		}
		p, ok := protocols[name]
		if !ok {
			if p, ok = parseProtocol(name); !ok {
				return nil, fmt.Errorf("listener %q: name %s is no security protocol and has no entry in the protocol map", entry, name)
			}
		}
		for _, l := range out {
			if l.Name == name {
				return nil, fmt.Errorf("listener name %s appears twice", name)
			}
			if _, port, _ := net.SplitHostPort(addr); port != "0" && l.Addr == addr {
				return nil, fmt.Errorf("listeners %s and %s both bind %s", l.Name, name, addr)
			}
		}
		out = append(out, Listener{Name: name, Protocol: p, Addr: addr})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no listener")
	}
	return out, nil
}

// ParseAdvertised parses advertised listeners ("NAME://host:port,...");
// each name must be one of listeners and the host must be set.
func ParseAdvertised(advertised string, listeners []Listener) (map[string]Endpoint, error) {
	out := map[string]Endpoint{}
	for _, entry := range splitList(advertised) {
		name, addr, ok := strings.Cut(entry, "://")
		if !ok {
			return nil, fmt.Errorf("advertised listener %q: want NAME://host:port", entry)
		}
		name = strings.ToUpper(name)
		known := false
		for _, l := range listeners {
			known = known || l.Name == name
		}
		if !known {
			return nil, fmt.Errorf("advertised listener %q: no listener named %s", entry, name)
		}
		host, portText, err := net.SplitHostPort(addr)
		port, perr := strconv.ParseUint(portText, 10, 16)
		if err != nil || perr != nil || host == "" || port == 0 {
			return nil, fmt.Errorf("advertised listener %q: want a host and a port from 1 to 65535", entry)
		}
		out[name] = Endpoint{Host: host, Port: int32(port)}
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// CheckHostPort checks a host:port address; port 0 is allowed.
func CheckHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// Bound is a listener once bound: its protocol and the endpoint clients
// that connect to it are told about (Metadata, FindCoordinator).
type Bound struct {
	Protocol Protocol
	Endpoint Endpoint
}

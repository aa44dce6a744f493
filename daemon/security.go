package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/riffle/riffle/daemon/auth"
	"github.com/riffle/riffle/netio"
)

// SecurityConfig is the [security] section: TLS files for SSL and SASL_SSL
// listeners (Kafka's ssl.* configs, with PEM files).
type SecurityConfig struct {
	SSLCertFile      string `toml:"ssl_cert_file"`
	SSLKeyFile       string `toml:"ssl_key_file"`
	SSLCAFile        string `toml:"ssl_ca_file"`
	SSLClientAuth    string `toml:"ssl_client_auth" oneof:"none requested required"`
	SSLReloadCheckMs int64  `toml:"ssl_reload_check_ms" min:"100" max:"86400000"`
	// SASLEnabledMechanisms is Kafka's sasl.enabled.mechanisms.
	SASLEnabledMechanisms string `toml:"sasl_enabled_mechanisms"`
	// SASLMechanismInterBrokerProtocol is Kafka's
	// sasl.mechanism.inter.broker.protocol; InterBrokerUsername and
	// InterBrokerPasswordFile are the credentials this node authenticates
	// with to a SASL inter-broker listener (Kafka: that listener's JAAS
	// username and password).
	SASLMechanismInterBrokerProtocol string `toml:"sasl_mechanism_inter_broker_protocol"`
	InterBrokerUsername              string `toml:"inter_broker_username"`
	InterBrokerPasswordFile          string `toml:"inter_broker_password_file"`
	// ConnectionsMaxReauthMs is Kafka's connections.max.reauth.ms.
	ConnectionsMaxReauthMs int64 `toml:"connections_max_reauth_ms" min:"0" max:"9223372036854775807"`
	// AuthorizerEnabled turns ACL checks on (Kafka: authorizer.class.name
	// set); SuperUsers is super.users, AllowEveryoneIfNoACLFound
	// allow.everyone.if.no.acl.found.
	AuthorizerEnabled         bool   `toml:"authorizer_enabled"`
	SuperUsers                string `toml:"super_users"`
	AllowEveryoneIfNoACLFound bool   `toml:"allow_everyone_if_no_acl_found"`
	// QuotaWindowNum and QuotaWindowSizeSeconds are Kafka's
	// quota.window.num and quota.window.size.seconds.
	QuotaWindowNum         int `toml:"quota_window_num" min:"1" max:"1000"`
	QuotaWindowSizeSeconds int `toml:"quota_window_size_seconds" min:"1" max:"3600"`
}

// authorizer is the ACL authorizer, nil when security.authorizer_enabled
// is off. The inter-broker user is a super user: brokers fetch as
// replicas, write transaction markers and call each other's coordinators.
func (c *Config) authorizer() *auth.Authorizer {
	s := c.Security
	if !s.AuthorizerEnabled {
		return nil
	}
	az := &auth.Authorizer{AllowEveryoneIfNoACL: s.AllowEveryoneIfNoACLFound}
	if s.InterBrokerUsername != "" {
		az.SuperUsers = append(az.SuperUsers, "User:"+s.InterBrokerUsername)
	}
	for _, u := range strings.Split(s.SuperUsers, ";") {
		if u = strings.TrimSpace(u); u != "" {
			az.SuperUsers = append(az.SuperUsers, u)
		}
	}
	return az
}

// saslMechanisms is security.sasl_enabled_mechanisms as a list.
func (c *Config) saslMechanisms() []string {
	var out []string
	for _, m := range strings.Split(c.Security.SASLEnabledMechanisms, ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}

// listeners is broker.listeners parsed, or one PLAINTEXT listener on
// broker.listen when it is empty (valid after Validate).
func (c *Config) listeners() []auth.Listener {
	b := c.Broker
	if b.Listeners == "" {
		return []auth.Listener{{Name: string(auth.Plaintext), Protocol: auth.Plaintext, Addr: b.Listen}}
	}
	ls, err := auth.ParseListeners(b.Listeners, b.ListenerSecurityProtocolMap)
	if err != nil {
		panic(fmt.Sprintf("unvalidated broker.listeners %q: %v", b.Listeners, err))
	}
	return ls
}

// interBrokerListener is the listener registered in the metadata quorum
// (other brokers and clients bootstrapping from it learn its endpoint):
// broker.inter_broker_listener_name, else the first listener.
func (c *Config) interBrokerListener() string {
	if n := c.Broker.InterBrokerListenerName; n != "" {
		return n
	}
	return c.listeners()[0].Name
}

// interBrokerProtocol is the inter-broker listener's protocol.
func (c *Config) interBrokerProtocol(ls []auth.Listener) auth.Protocol {
	name := c.interBrokerListener()
	for _, l := range ls {
		if l.Name == name {
			return l.Protocol
		}
	}
	return auth.Plaintext
}

// validateSecurity checks the listener keys and [security].
func (c *Config) validateSecurity(bad func(key string, v any, format string, args ...any)) {
	b := c.Broker
	for _, u := range strings.Split(c.Security.SuperUsers, ";") {
		if u = strings.TrimSpace(u); u != "" && !strings.HasPrefix(u, "User:") {
			bad("security.super_users", c.Security.SuperUsers, "%q: want User:NAME entries separated by ';'", u)
		}
	}
	if b.AdminTLS && (c.Security.SSLCertFile == "" || c.Security.SSLKeyFile == "") {
		bad("broker.admin_tls", b.AdminTLS, "needs security.ssl_cert_file and security.ssl_key_file")
	}
	for _, m := range c.saslMechanisms() {
		if _, err := auth.NewExchange(m, nil); err != nil {
			bad("security.sasl_enabled_mechanisms", c.Security.SASLEnabledMechanisms, "%s: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", m)
		}
	}
	if b.Listeners == "" {
		c.validateInterBroker(auth.Plaintext, bad)
		if b.AdvertisedListeners != "" || b.ListenerSecurityProtocolMap != "" {
			bad("broker.listeners", b.Listeners, "must be set when broker.advertised_listeners or broker.listener_security_protocol_map is")
		}
		if n := b.InterBrokerListenerName; n != "" && n != string(auth.Plaintext) {
			bad("broker.inter_broker_listener_name", n, "without broker.listeners the only listener is PLAINTEXT")
		}
		return
	}
	ls, err := auth.ParseListeners(b.Listeners, b.ListenerSecurityProtocolMap)
	if err != nil {
		bad("broker.listeners", b.Listeners, "%v", err)
		return
	}
	adv, err := auth.ParseAdvertised(b.AdvertisedListeners, ls)
	if err != nil {
		bad("broker.advertised_listeners", b.AdvertisedListeners, "%v", err)
	}
	named := b.InterBrokerListenerName == ""
	usesTLS, usesSASL := false, false
	for _, l := range ls {
		named = named || l.Name == b.InterBrokerListenerName
		usesTLS = usesTLS || l.Protocol.TLS()
		usesSASL = usesSASL || l.Protocol.SASL()
		if host, _, _ := net.SplitHostPort(l.Addr); isWildcard(host) && b.AdvertisedHost == "" {
			if _, ok := adv[l.Name]; !ok {
				bad("broker.advertised_listeners", b.AdvertisedListeners, "must name listener %s (or set broker.advertised_host): it binds every address (%s)", l.Name, l.Addr)
			}
		}
	}
	if !named {
		bad("broker.inter_broker_listener_name", b.InterBrokerListenerName, "no listener of that name in broker.listeners")
	}
	c.validateInterBroker(c.interBrokerProtocol(ls), bad)
	s := c.Security
	if usesSASL && len(c.saslMechanisms()) == 0 {
		bad("security.sasl_enabled_mechanisms", s.SASLEnabledMechanisms, "must name a mechanism for SASL_PLAINTEXT and SASL_SSL listeners")
	}
	if usesTLS && (s.SSLCertFile == "" || s.SSLKeyFile == "") {
		bad("security.ssl_cert_file", s.SSLCertFile, "security.ssl_cert_file and security.ssl_key_file must be set for SSL and SASL_SSL listeners")
	}
	if usesTLS && s.SSLClientAuth != "none" && s.SSLCAFile == "" {
		bad("security.ssl_ca_file", s.SSLCAFile, "must be set when security.ssl_client_auth is %s", s.SSLClientAuth)
	}
}

// kafkaListener is one bound Kafka listener.
type kafkaListener struct {
	auth.Listener
	server *netio.Server
}

// startTLS reads the TLS files into b.tls when a listener is SSL or
// SASL_SSL or cluster.tls is on; the TLS listeners, the connections to
// other brokers' listeners and the cluster transport share it, and it is
// reloaded on SIGHUP and when its files change. It then sets up how this
// node connects to other brokers (b.interBroker).
func (b *broker) startTLS(cfg Config) (err error) {
	usesTLS := cfg.Cluster.TLS
	for _, l := range cfg.listeners() {
		usesTLS = usesTLS || l.Protocol.TLS()
	}
	if usesTLS {
		s := cfg.Security
		b.tls, err = auth.NewTLSSource(auth.TLSFiles{CertFile: s.SSLCertFile, KeyFile: s.SSLKeyFile,
			CAFile: s.SSLCAFile, ClientAuth: s.SSLClientAuth}, b.log)
		if err != nil {
			return &startError{code: ExitUsage, err: err}
		}
		ctx, cancel := context.WithCancel(context.Background())
		b.stopTLS = cancel
		go b.tls.Watch(ctx, time.Duration(s.SSLReloadCheckMs)*time.Millisecond)
		go reloadOnSIGHUP(ctx, b.tls)
	}
	if b.interBroker, err = newInterBroker(cfg, b.tls); err != nil {
		return &startError{code: ExitUsage, err: err}
	}
	if p := cfg.interBrokerProtocol(cfg.listeners()); p.SASL() && b.interBroker.mech == nil {
		// Validate requires the credentials in a cluster; a single node
		// still sends transaction markers to its own listener.
		b.log.Warn("riffle: the inter-broker listener is "+string(p)+" and security.inter_broker_username is not set: transactions cannot complete",
			"listener", cfg.interBrokerListener())
	}
	return nil
}

// startListeners binds every Kafka listener, the inter-broker one first
// (b.server); TLS listeners use b.tls.
func (b *broker) startListeners(cfg Config) error {
	for _, l := range cfg.listeners() {
		nc := cfg.Netio(b.log)
		nc.Addr, nc.Name = l.Addr, l.Name
		if l.Protocol.TLS() {
			nc.TLS = b.tls.Config()
		}
		srv, err := netio.Listen(nc, b.handler)
		if err != nil {
			label := "listen"
			if cfg.Broker.Listeners != "" {
				label += " " + l.Name
			}
			return listenError(label, l.Addr, err)
		}
		kl := kafkaListener{Listener: l, server: srv}
		if l.Name == cfg.interBrokerListener() {
			b.server = srv
			b.listeners = append([]kafkaListener{kl}, b.listeners...)
		} else {
			b.listeners = append(b.listeners, kl)
		}
	}
	return nil
}

func reloadOnSIGHUP(ctx context.Context, src *auth.TLSSource) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			_ = src.Reload() // logged; the previous files stay in use
		}
	}
}

// boundListeners is each listener's protocol and advertised endpoint:
// broker.advertised_listeners, else broker.advertised_host (or the bound
// host) and the bound port.
func (b *broker) boundListeners(cfg Config) (map[string]auth.Bound, error) {
	adv, err := auth.ParseAdvertised(cfg.Broker.AdvertisedListeners, cfg.listeners())
	if err != nil {
		return nil, err
	}
	out := map[string]auth.Bound{}
	for _, l := range b.listeners {
		ep, ok := adv[l.Name]
		if !ok {
			host, portText, err := net.SplitHostPort(l.server.Addr().String())
			if err != nil {
				return nil, fmt.Errorf("listener %s address: %w", l.Name, err)
			}
			port, err := strconv.Atoi(portText)
			if err != nil {
				return nil, fmt.Errorf("listener %s port %q: %w", l.Name, portText, err)
			}
			if cfg.Broker.AdvertisedHost != "" {
				host = cfg.Broker.AdvertisedHost
			}
			ep = auth.Endpoint{Host: host, Port: int32(port)}
		}
		out[l.Name] = auth.Bound{Protocol: l.Protocol, Endpoint: ep}
	}
	return out, nil
}

// shutdownListeners drains and closes every Kafka listener.
func (b *broker) shutdownListeners(ctx context.Context) error {
	var errs []error
	for _, l := range b.listeners {
		if err := l.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("listener %s: %w", l.Name, err))
		}
	}
	if b.stopTLS != nil {
		b.stopTLS()
	}
	return errors.Join(errs...)
}

// netStats sums the Kafka listeners' counters (metrics).
func (b *broker) netStats() netio.Stats {
	var sum netio.Stats
	for _, l := range b.listeners {
		st := l.server.Stats()
		sum.Connections += st.Connections
		sum.BytesSendfile += st.BytesSendfile
		sum.BytesCopied += st.BytesCopied
		sum.BytesWritten += st.BytesWritten
		sum.Sends += st.Sends
		sum.WriteStalls += st.WriteStalls
		sum.EventLoopBusy += st.EventLoopBusy
		sum.AcceptErrors += st.AcceptErrors
		sum.Refused += st.Refused
		sum.RequestBytes += st.RequestBytes
	}
	return sum
}

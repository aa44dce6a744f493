package daemon

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/riffle/riffle/daemon/auth"
	"github.com/riffle/riffle/quorum"
)

// interBrokerDialTimeout bounds a connection to another node, TLS
// handshake included.
const interBrokerDialTimeout = 10 * time.Second

// interBrokerScramIterations is the iteration count of the inter-broker
// user's SCRAM credentials when a node creates them.
const interBrokerScramIterations = 8192

// interBroker is how this node connects to other brokers' inter-broker
// listener (replica fetchers, the transaction marker client): the dialer
// (TLS when that listener is SSL or SASL_SSL) and the SASL mechanism with
// this node's credentials (nil unless it is SASL_PLAINTEXT or SASL_SSL).
type interBroker struct {
	dialer auth.PeerDialer
	mech   sasl.Mechanism
}

// newInterBroker reads the inter-broker password file; src is the node's
// TLSSource (nil without TLS).
func newInterBroker(cfg Config, src *auth.TLSSource) (interBroker, error) {
	p := cfg.interBrokerProtocol(cfg.listeners())
	ib := interBroker{dialer: auth.PeerDialer{Timeout: interBrokerDialTimeout}}
	if p.TLS() {
		ib.dialer.TLS = src
	}
	s := cfg.Security
	if !p.SASL() || s.InterBrokerUsername == "" {
		return ib, nil
	}
	password, err := readPasswordFile(s.InterBrokerPasswordFile)
	if err != nil {
		return ib, fmt.Errorf("security.inter_broker_password_file: %w", err)
	}
	ib.mech, err = auth.ClientMechanism(s.SASLMechanismInterBrokerProtocol, s.InterBrokerUsername, password)
	return ib, err
}

// readPasswordFile is a file's content without surrounding white space.
func readPasswordFile(name string) (string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	password := strings.TrimSpace(string(data))
	if password == "" {
		return "", fmt.Errorf("%s is empty", name)
	}
	return password, nil
}

// kgoOpts are the options of a Kafka client of other brokers.
func (ib interBroker) kgoOpts() []kgo.Opt {
	opts := []kgo.Opt{kgo.Dialer(ib.dialer.Dial)}
	if ib.mech != nil {
		opts = append(opts, kgo.SASL(ib.mech))
	}
	return opts
}

// ensureInterBrokerUser creates the inter-broker user's SCRAM credentials
// from its password file when the metadata has none for a mechanism this
// node needs, so that a cluster whose every listener is SASL can start: no
// client could authenticate to create the first user. Existing
// credentials are never changed (a password changed with riffle user
// stays; a mismatch shows as failed authentications in the log).
func (b *broker) ensureInterBrokerUser(cfg Config) error {
	s := cfg.Security
	if b.interBroker.mech == nil {
		return nil
	}
	want := []quorum.ScramMechanism{quorum.ScramSHA256, quorum.ScramSHA512}
	if m, ok := quorum.ScramMechanisms[s.SASLMechanismInterBrokerProtocol]; ok {
		want = []quorum.ScramMechanism{m}
	}
	have := b.ctrl.Image().Security.ScramMechanismsOf(s.InterBrokerUsername)
	if s.SASLMechanismInterBrokerProtocol == "PLAIN" && len(have) > 0 {
		return nil // PLAIN checks against any SCRAM credential
	}
	password, err := readPasswordFile(s.InterBrokerPasswordFile)
	if err != nil {
		return fmt.Errorf("security.inter_broker_password_file: %w", err)
	}
	var changes []quorum.ScramChange
	for _, m := range want {
		if slices.Contains(have, m) {
			continue
		}
		salt := make([]byte, 32)
		rand.Read(salt)
		salted, err := pbkdf2.Key(m.Hash(), password, salt, interBrokerScramIterations, m.Hash()().Size())
		if err != nil {
			return fmt.Errorf("inter-broker user %s: %w", s.InterBrokerUsername, err)
		}
		changes = append(changes, quorum.ScramChange{User: s.InterBrokerUsername, Mechanism: m,
			Iterations: interBrokerScramIterations, Salt: salt, SaltedPassword: salted})
	}
	if len(changes) == 0 {
		return nil
	}
	if err := b.ctrl.AlterScramCredentials(changes); err != nil {
		return fmt.Errorf("create the inter-broker user %s: %w", s.InterBrokerUsername, err)
	}
	b.log.Info("riffle: created the inter-broker user's SCRAM credentials", "user", s.InterBrokerUsername)
	return nil
}

// validateInterBroker checks cluster.tls and the inter-broker SASL keys;
// ibp is the inter-broker listener's protocol.
func (c *Config) validateInterBroker(ibp auth.Protocol, bad func(key string, v any, format string, args ...any)) {
	s := c.Security
	if _, err := auth.ClientMechanism(s.SASLMechanismInterBrokerProtocol, "", ""); err != nil {
		bad("security.sasl_mechanism_inter_broker_protocol", s.SASLMechanismInterBrokerProtocol, "want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	}
	if c.Cluster.TLS && (s.SSLCertFile == "" || s.SSLKeyFile == "" || s.SSLCAFile == "") {
		bad("cluster.tls", c.Cluster.TLS, "needs security.ssl_cert_file, security.ssl_key_file and security.ssl_ca_file (mutual TLS between nodes)")
	}
	if (s.InterBrokerUsername == "") != (s.InterBrokerPasswordFile == "") {
		bad("security.inter_broker_username", s.InterBrokerUsername, "set it and security.inter_broker_password_file together")
	}
	if !ibp.SASL() {
		return
	}
	if c.Cluster.Voters != "" && s.InterBrokerUsername == "" {
		bad("security.inter_broker_username", s.InterBrokerUsername, "must be set, with security.inter_broker_password_file: the inter-broker listener %s is %s", c.interBrokerListener(), ibp)
	}
	if s.InterBrokerUsername != "" && !slices.Contains(c.saslMechanisms(), s.SASLMechanismInterBrokerProtocol) {
		bad("security.sasl_mechanism_inter_broker_protocol", s.SASLMechanismInterBrokerProtocol, "must be one of security.sasl_enabled_mechanisms (%s)", s.SASLEnabledMechanisms)
	}
}

package cli

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"os"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/daemon/auth"
)

// saslPasswordEnv holds the SASL password, kept off the command line (and
// so out of ps and shell history).
const saslPasswordEnv = "RIFFLE_SASL_PASSWORD"

// securityFlags are the connection's TLS and SASL settings, common to
// every command.
type securityFlags struct {
	tls           bool
	caFile        string
	certFile      string
	keyFile       string
	saslMechanism string
	saslUser      string
}

func (s *securityFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&s.tls, "tls", false, "connect with TLS (implied by --ca-file and --cert-file)")
	fs.StringVar(&s.caFile, "ca-file", "", "PEM `file` of the CAs to trust (default: the system's)")
	fs.StringVar(&s.certFile, "cert-file", "", "PEM `file` of a client certificate (mTLS), with --key-file")
	fs.StringVar(&s.keyFile, "key-file", "", "PEM `file` of the client certificate's key")
	fs.StringVar(&s.saslMechanism, "sasl-mechanism", "", "SASL `mechanism`: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN (password in $"+saslPasswordEnv+")")
	fs.StringVar(&s.saslUser, "sasl-user", "", "SASL `user`")
}

// commonValueFlags are the common flags that take a value, for
// leadingCommonFlags.
var commonValueFlags = []string{"b", "brokers", "timeout", "ca-file", "cert-file", "key-file", "sasl-mechanism", "sasl-user"}

// opts turns the flags into client options.
func (s *securityFlags) opts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if s.tls || s.caFile != "" || s.certFile != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if s.caFile != "" {
			pem, err := os.ReadFile(s.caFile)
			if err != nil {
				return nil, usageErrorf("--ca-file: %v", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, usageErrorf("--ca-file %s: no PEM certificate", s.caFile)
			}
		}
		if s.certFile != "" || s.keyFile != "" {
			cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
			if err != nil {
				return nil, usageErrorf("--cert-file/--key-file: %v", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if s.saslMechanism == "" {
		if s.saslUser != "" {
			return nil, usageErrorf("--sasl-user needs --sasl-mechanism")
		}
		return opts, nil
	}
	password, ok := os.LookupEnv(saslPasswordEnv)
	if s.saslUser == "" || !ok {
		return nil, usageErrorf("--sasl-mechanism %s needs --sasl-user and the password in $%s", s.saslMechanism, saslPasswordEnv)
	}
	mech, err := auth.ClientMechanism(s.saslMechanism, s.saslUser, password)
	if err != nil {
		return nil, usageErrorf("--sasl-mechanism: %v", err)
	}
	opts = append(opts, kgo.SASL(mech))
	return opts, nil
}

package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// TLSFiles names the PEM files of a TLS listener and how it treats client
// certificates.
type TLSFiles struct {
	CertFile, KeyFile string
	// CAFile holds the CAs client certificates, and the certificates of
	// the brokers this node dials, are checked against; empty: no client
	// certificates, and the system's CAs for dialing.
	CAFile string
	// ClientAuth is Kafka's ssl.client.auth: "none", "requested" (checked
	// when given) or "required".
	ClientAuth string
}

// TLSSource serves the TLS configurations of the listeners and of the
// connections this node dials to other nodes, all from one certificate,
// key and CA file. They are read at start, on Reload (SIGHUP) and when
// Watch sees a file change; a reload applies to new handshakes, so
// connections already open keep going. A reload that fails keeps the last
// good files.
type TLSSource struct {
	files TLSFiles
	cur   atomic.Pointer[tlsConfigs]
	stamp atomic.Pointer[string] // the files' sizes and mtimes when last read
	log   *slog.Logger
}

// tlsConfigs are the configurations made from one reading of the files.
type tlsConfigs struct {
	listener *tls.Config // ClientAuth as TLSFiles says
	mutual   *tls.Config // client certificates required and verified
	cert     tls.Certificate
	cas      *x509.CertPool // nil without a CA file: the system's
}

// NewTLSSource reads the files; an error names the file at fault.
func NewTLSSource(files TLSFiles, log *slog.Logger) (*TLSSource, error) {
	s := &TLSSource{files: files, log: log}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// Config is the tls.Config a listener uses: each handshake takes the
// current files' configuration.
func (s *TLSSource) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.cur.Load().listener, nil
		},
	}
}

// MutualConfig is the tls.Config of a listener only other nodes use: it
// requires a client certificate that the CA file verifies, whatever
// ClientAuth says. Session tickets are off: a peer's idle connection then
// never holds unread bytes, which the cluster transport takes for a
// closed connection.
func (s *TLSSource) MutualConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.cur.Load().mutual, nil
		},
	}
}

// ClientConfig is the tls.Config to dial another node at host: its
// certificate is verified against the CA file for host, and this node
// presents its own certificate (for listeners that require one).
func (s *TLSSource) ClientConfig(host string) *tls.Config {
	cur := s.cur.Load()
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		ServerName:   host,
		RootCAs:      cur.cas,
		Certificates: []tls.Certificate{cur.cert},
	}
}

func (s *TLSSource) load() error {
	stamp := s.fileStamp()
	cert, err := tls.LoadX509KeyPair(s.files.CertFile, s.files.KeyFile)
	if err != nil {
		return fmt.Errorf("tls certificate %s, key %s: %w", s.files.CertFile, s.files.KeyFile, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	var cas *x509.CertPool
	if s.files.CAFile != "" {
		pem, err := os.ReadFile(s.files.CAFile)
		if err != nil {
			return fmt.Errorf("tls CA file: %w", err)
		}
		cas = x509.NewCertPool()
		if !cas.AppendCertsFromPEM(pem) {
			return fmt.Errorf("tls CA file %s: no PEM certificate", s.files.CAFile)
		}
	}
	switch s.files.ClientAuth {
	case "", "none":
		cfg.ClientAuth = tls.NoClientCert
	case "requested":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case "required":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return fmt.Errorf("tls client auth %q: want none, requested or required", s.files.ClientAuth)
	}
	if cfg.ClientAuth != tls.NoClientCert {
		if cas == nil {
			return fmt.Errorf("tls client auth %s: no CA file", s.files.ClientAuth)
		}
		cfg.ClientCAs = cas
	}
	mutual := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: cfg.Certificates,
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: cas, SessionTicketsDisabled: true}
	s.cur.Store(&tlsConfigs{listener: cfg, mutual: mutual, cert: cert, cas: cas})
	s.stamp.Store(&stamp)
	return nil
}

// Reload rereads the files; on failure the previous ones stay in use.
func (s *TLSSource) Reload() error {
	if err := s.load(); err != nil {
		s.log.Error("tls: reload failed; keeping the previous certificate", "err", err)
		return err
	}
	s.log.Info("tls: certificate reloaded", "cert", s.files.CertFile)
	return nil
}

// fileStamp is the files' sizes and modification times.
func (s *TLSSource) fileStamp() string {
	var b strings.Builder
	for _, name := range []string{s.files.CertFile, s.files.KeyFile, s.files.CAFile} {
		if fi, err := os.Stat(name); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", name, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}

// Watch reloads whenever the files' sizes or mtimes change, checking every
// interval until ctx ends. A half-written pair fails to load and is
// retried at the next check.
func (s *TLSSource) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if stamp := s.fileStamp(); stamp != *s.stamp.Load() {
			_ = s.Reload()
		}
	}
}

// CertPrincipal is the principal of a verified client certificate, Kafka's
// default mapping: "User:" and the subject's distinguished name; "" without
// a certificate.
func CertPrincipal(state *tls.ConnectionState) string {
	if state == nil || len(state.VerifiedChains) == 0 || len(state.PeerCertificates) == 0 {
		return ""
	}
	return "User:" + state.PeerCertificates[0].Subject.String()
}

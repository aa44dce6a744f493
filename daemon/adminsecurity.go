package daemon

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/riffle/riffle/daemon/auth"
)

// protect sets up the admin listener's TLS (broker.admin_tls, with the
// [security] certificate, reloaded when its files change) and returns the
// handler wrapper that asks for broker.admin_token_file's token on
// everything but the health probes. An admin listener reachable beyond
// loopback without both is logged as a warning: /metrics names every
// topic and group.
func (a *adminServer) protect(cfg Config) (func(http.Handler) http.Handler, error) {
	b := cfg.Broker
	if b.AdminTLS {
		s := cfg.Security
		src, err := auth.NewTLSSource(auth.TLSFiles{CertFile: s.SSLCertFile, KeyFile: s.SSLKeyFile}, a.log)
		if err != nil {
			return nil, fmt.Errorf("admin listener: %w", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		a.stopTLS = cancel
		go src.Watch(ctx, time.Duration(s.SSLReloadCheckMs)*time.Millisecond)
		a.ln = tls.NewListener(a.ln, src.Config())
	}
	var token []byte
	if b.AdminTokenFile != "" {
		data, err := os.ReadFile(b.AdminTokenFile)
		if err != nil {
			return nil, fmt.Errorf("admin token: %w", err)
		}
		if token = []byte(strings.TrimSpace(string(data))); len(token) == 0 {
			return nil, fmt.Errorf("admin token file %s is empty", b.AdminTokenFile)
		}
	}
	if host, _, _ := net.SplitHostPort(b.AdminListen); !isLoopback(host) && (!b.AdminTLS || token == nil) {
		a.log.Warn("riffle: the admin listener is reachable beyond loopback without TLS and a token; set broker.admin_tls and broker.admin_token_file",
			"admin_listen", b.AdminListen)
	}
	return func(next http.Handler) http.Handler {
		if token == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/healthz" && r.URL.Path != "/readyz" {
				got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
				if !ok || subtle.ConstantTimeCompare([]byte(got), token) != 1 {
					w.Header().Set("WWW-Authenticate", `Bearer realm="riffle"`)
					http.Error(w, "unauthorized", http.StatusUnauthorized)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

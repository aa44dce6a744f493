package e2e

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAdminListenerTLSAndToken: with broker.admin_tls and
// broker.admin_token_file the admin listener serves HTTPS, asks for the
// token on /metrics but not on the health probes, and serves no pprof
// unless broker.admin_pprof.
func TestAdminListenerTLSAndToken(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _, ca, _ := tlsBroker(t, "--set", "broker.admin_tls=true", "--set", "broker.admin_token_file="+tokenFile)
	client := &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}}}
	get := func(path, token string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("GET", "https://"+b.AdminAddr()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, tc := range []struct {
		path, token string
		code        int
		body        string
	}{
		{"/healthz", "", 200, "ok"},
		{"/readyz", "", 200, "ready"},
		{"/metrics", "", 401, ""},
		{"/metrics", "wrong", 401, ""},
		{"/metrics", "t0ken", 200, "riffle_netio_connections"},
		{"/debug/pprof/", "t0ken", 404, ""},
		{"/debug/pprof/trace?seconds=1", "t0ken", 404, ""},
	} {
		if code, body := get(tc.path, tc.token); code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("GET %s (token %q): %d %.80q, want %d with %q", tc.path, tc.token, code, body, tc.code, tc.body)
		}
	}
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + b.AdminAddr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP served on a TLS admin listener")
		}
	}
}

package netio

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/riffle/riffle/internal/tlstest"
)

// TestMute: after a request whose handler muted the connection, the next
// request pipelined behind it is not served until the mute has passed;
// the muted response itself goes out at once, or after the mute when the
// handler asked to delay it. On plaintext (event loop) and TLS listeners.
func TestMute(t *testing.T) {
	const mute = 400 * time.Millisecond
	for _, useTLS := range []bool{false, true} {
		var mu sync.Mutex
		served := map[string]time.Time{}
		h := handlerFunc(func(_ context.Context, c *Conn, frame []byte) ([]Piece, error) {
			mu.Lock()
			served[string(frame)] = time.Now()
			mu.Unlock()
			switch string(frame) {
			case "mute":
				c.Mute(mute, false)
			case "delay":
				c.Mute(mute, true)
			}
			return []Piece{{Bytes: []byte("re:" + string(frame))}}, nil
		})
		cfg := Config{}
		var clientCfg *tls.Config
		if useTLS {
			var ca *tlstest.CA
			cfg.TLS, ca = tlsServerConfig(t)
			clientCfg = &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
		}
		s := startServer(t, cfg, h)
		var c net.Conn
		if useTLS {
			c = dialTLS(t, s, clientCfg)
		} else {
			c = dial(t, s, 0)
		}
		for _, first := range []string{"mute", "delay"} {
			sent := time.Now()
			if _, err := c.Write(append(frameBytes([]byte(first)), frameBytes([]byte("next-"+first))...)); err != nil {
				t.Fatal(err)
			}
			if got := string(mustRecv(t, c)); got != "re:"+first {
				t.Fatalf("tls %v: got %q", useTLS, got)
			}
			firstAt := time.Now()
			if got := string(mustRecv(t, c)); got != "re:next-"+first {
				t.Fatalf("tls %v: got %q", useTLS, got)
			}
			mu.Lock()
			gap := served["next-"+first].Sub(served[first])
			mu.Unlock()
			if gap < mute {
				t.Errorf("tls %v, %s: the next request was served %v after the muting one, want ≥ %v", useTLS, first, gap, mute)
			}
			if wait := firstAt.Sub(sent); first == "delay" && wait < mute {
				t.Errorf("tls %v: the delayed response came after %v, want ≥ %v", useTLS, wait, mute)
			} else if first == "mute" && wait >= mute {
				t.Errorf("tls %v: the muting response came after %v, want at once", useTLS, wait)
			}
		}
	}
}

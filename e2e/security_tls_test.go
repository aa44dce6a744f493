package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/brokertest"
	"github.com/riffle/riffle/internal/tlstest"
)

// tlsBroker starts a broker with a PLAINTEXT listener (first, inter-broker)
// and an SSL one, client certificates requested; it returns the broker,
// the SSL listener's address and the CA.
func tlsBroker(t *testing.T, extra ...string) (*brokertest.Broker, string, *tlstest.CA, tlstest.Pair) {
	t.Helper()
	ca := tlstest.NewCA(t)
	srv := ca.Server(t, "server")
	b := brokertest.Start(t, append([]string{
		"--set", "broker.listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
		"--set", "security.ssl_cert_file=" + srv.CertFile,
		"--set", "security.ssl_key_file=" + srv.KeyFile,
		"--set", "security.ssl_ca_file=" + ca.CAFile,
		"--set", "security.ssl_client_auth=requested",
		"--set", "security.ssl_reload_check_ms=100",
	}, extra...)...)
	if len(b.Listeners()) != 1 {
		t.Fatalf("ready file: want one more listener, got %q", b.Listeners())
	}
	return b, b.Listeners()[0], ca, srv
}

// TestTLSListenerRoundTrip: franz-go produces and consumes over TLS with a
// client certificate, is told the SSL listener's endpoint in Metadata, and
// fetches responses larger than the copy threshold (the TLS copy path).
func TestTLSListenerRoundTrip(t *testing.T) {
	b, sslAddr, ca, _ := tlsBroker(t)
	client := ca.Client(t, "client", "alice").TLSCertificate(t)
	tlsCfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", Certificates: []tls.Certificate{client}}
	cl := newClient(t, sslAddr, kgo.DialTLSConfig(tlsCfg), kgo.ConsumeTopics("tls"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DefaultProduceTopic("tls"))
	createTopic(t, cl, "tls", 1)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	meta, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	_, port, _ := net.SplitHostPort(sslAddr)
	if len(meta.Brokers) != 1 || strconv.Itoa(int(meta.Brokers[0].Port)) != port {
		t.Fatalf("metadata over SSL advertises %+v, want the SSL port %s", meta.Brokers, port)
	}

	const n = 200
	value := bytes.Repeat([]byte("x"), 4000) // 800 kB in all: fetches copy more than 32 KiB
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Value: append([]byte(strconv.Itoa(i)+":"), value...)}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("produce over TLS: %v", err)
	}
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("fetch over TLS: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if want := strconv.Itoa(got) + ":"; !strings.HasPrefix(string(r.Value), want) {
				t.Fatalf("record %d = %.10q...", got, r.Value)
			}
			got++
		})
	}

	// The plaintext listener still serves plaintext clients.
	plain := newClient(t, b.Addr())
	if err := plain.Ping(ctx); err != nil {
		t.Fatalf("plaintext listener: %v", err)
	}
}

// TestTLSCertificateReload: a new certificate written over the files is
// served to new connections while an open connection keeps working.
func TestTLSCertificateReload(t *testing.T) {
	_, sslAddr, ca, srv := tlsBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	old := newClient(t, sslAddr, kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}))
	createTopic(t, old, "reload", 1)
	// franz-go produces on a connection of its own: open it now.
	if r := old.ProduceSync(ctx, &kgo.Record{Topic: "reload", Value: []byte("before")}); r.FirstErr() != nil {
		t.Fatalf("produce: %v", r.FirstErr())
	}

	ca2 := tlstest.NewCA(t)
	next := ca2.Server(t, "next")
	for _, f := range [][2]string{{next.KeyFile, srv.KeyFile}, {next.CertFile, srv.CertFile}} {
		data, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1]+".tmp", data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f[1]+".tmp", f[1]); err != nil {
			t.Fatal(err)
		}
	}
	pool2 := ca2.Pool()
	waitFor(t, 30*time.Second, "the new certificate served", func() bool {
		c, err := tls.Dial("tcp", sslAddr, &tls.Config{RootCAs: pool2, ServerName: "localhost"})
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	// The connection opened before the reload is still up and served.
	if r := old.ProduceSync(ctx, &kgo.Record{Topic: "reload", Value: []byte("after")}); r.FirstErr() != nil {
		t.Fatalf("produce on the connection opened before the reload: %v", r.FirstErr())
	}
	// A client trusting only the old CA can no longer connect.
	if c, err := tls.Dial("tcp", sslAddr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}); err == nil {
		c.Close()
		t.Fatal("a client trusting only the old CA connected after the reload")
	}
}

// TestTLSClientOnPlaintextPort: a TLS client on the PLAINTEXT listener
// fails its handshake at once with an alert, not a hang.
func TestTLSClientOnPlaintextPort(t *testing.T) {
	b, _, ca, _ := tlsBroker(t)
	d := &net.Dialer{Timeout: 10 * time.Second}
	start := time.Now()
	_, err := tls.DialWithDialer(d, "tcp", b.Addr(), &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
	if err == nil || !strings.Contains(err.Error(), "handshake failure") {
		t.Fatalf("TLS dial of the plaintext port: %v, want a handshake_failure alert", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the TLS client waited %v for its answer", took)
	}
}

package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/riffle/riffle/internal/brokertest"
	"github.com/riffle/riffle/internal/kafkatest"
	"github.com/riffle/riffle/internal/tlstest"
)

// saslBroker runs a broker with PLAINTEXT (first: the administrator's, on
// loopback), SASL_SSL and SASL_PLAINTEXT listeners, every mechanism
// enabled, and users alice and bob made over PLAINTEXT.
type saslBroker struct {
	b                 *brokertest.Broker
	saslSSL, saslText string
	tls               *tls.Config // trusts the broker's CA
	ca                *tlstest.CA
}

func startSASLBroker(t *testing.T, extra ...string) *saslBroker {
	t.Helper()
	ca := tlstest.NewCA(t)
	srv := ca.Server(t, "server")
	b := brokertest.Start(t, append([]string{
		"--set", "broker.listeners=PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
		"--set", "security.ssl_cert_file=" + srv.CertFile,
		"--set", "security.ssl_key_file=" + srv.KeyFile,
		"--set", "security.sasl_enabled_mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN",
	}, extra...)...)
	if len(b.Listeners()) != 2 {
		t.Fatalf("ready file: want two more listeners, got %q", b.Listeners())
	}
	s := &saslBroker{b: b, saslSSL: b.Listeners()[0], saslText: b.Listeners()[1], ca: ca,
		tls: &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}}
	adm := kadm.NewClient(newClient(t, b.Addr()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "alice-secret"},
		{User: "alice", Mechanism: kadm.ScramSha256, Iterations: 8192, Password: "alice-secret"},
		{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "bob-secret"},
	})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("alter user scram credentials: %v", err)
	}
	return s
}

func (s *saslBroker) client(t *testing.T, addr string, mech sasl.Mechanism, useTLS bool, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append(opts, kgo.SASL(mech), kgo.RequestRetries(0), kgo.RetryTimeout(5*time.Second))
	if useTLS {
		opts = append(opts, kgo.DialTLSConfig(s.tls))
	}
	return newClient(t, addr, opts...)
}

// TestSASLFranzGo: SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN over SASL_SSL and
// SASL_PLAINTEXT produce and consume; credentials are described; wrong
// passwords and unknown users are refused with SASL_AUTHENTICATION_FAILED.
func TestSASLFranzGo(t *testing.T) {
	s := startSASLBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	adm := kadm.NewClient(newClient(t, s.b.Addr()))
	described, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a := described["alice"]; len(a.CredInfos) != 2 || described["bob"].CredInfos[0].Iterations != 4096 {
		t.Fatalf("described credentials: %+v", described)
	}

	alice512 := scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()
	prod := s.client(t, s.saslSSL, alice512, true, kgo.DefaultProduceTopic("secure"))
	createTopic(t, prod, "secure", 1)
	for i := range 10 {
		if err := prod.ProduceSync(ctx, testRecord("secure", i, time.Now())).FirstErr(); err != nil {
			t.Fatalf("produce over SASL_SSL SCRAM-SHA-512: %v", err)
		}
	}
	for _, tc := range []struct {
		name   string
		addr   string
		mech   sasl.Mechanism
		useTLS bool
	}{
		{"SASL_SSL PLAIN", s.saslSSL, plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism(), true},
		{"SASL_SSL SCRAM-SHA-256", s.saslSSL, scram.Auth{User: "bob", Pass: "bob-secret"}.AsSha256Mechanism(), true},
		{"SASL_PLAINTEXT SCRAM-SHA-256", s.saslText, scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism(), false},
	} {
		cons := s.client(t, tc.addr, tc.mech, tc.useTLS, kgo.ConsumeTopics("secure"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		got := 0
		for got < 10 {
			fs := cons.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatalf("%s: consume: %v", tc.name, err)
			}
			got += fs.NumRecords()
		}
	}

	for _, bad := range []struct {
		name string
		mech sasl.Mechanism
	}{
		{"wrong password SCRAM", scram.Auth{User: "alice", Pass: "nope"}.AsSha512Mechanism()},
		{"unknown user SCRAM", scram.Auth{User: "mallory", Pass: "alice-secret"}.AsSha512Mechanism()},
		{"wrong password PLAIN", plain.Auth{User: "alice", Pass: "nope"}.AsMechanism()},
		{"unknown user PLAIN", plain.Auth{User: "mallory", Pass: "x"}.AsMechanism()},
		{"no SHA-512 credential", scram.Auth{User: "bob", Pass: "bob-secret"}.AsSha512Mechanism()},
	} {
		cl := s.client(t, s.saslSSL, bad.mech, true)
		err := cl.Ping(ctx)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("%s: ping: %v, want SASL_AUTHENTICATION_FAILED", bad.name, err)
		}
	}
}

// TestSASLNothingBeforeAuthentication: on a SASL listener a request other
// than ApiVersions and the SASL ones, before authenticating, gets no
// answer and the connection closes; ApiVersions is served.
func TestSASLNothingBeforeAuthentication(t *testing.T) {
	s := startSASLBroker(t)
	conn, err := net.DialTimeout("tcp", s.saslText, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := kafkatest.RoundTrip(conn, kafkatest.Frame(kmsg.NewPtrApiVersionsRequest(), 1), 10*time.Second); err != nil {
		t.Fatalf("ApiVersions before authentication: %v", err)
	}
	meta := kmsg.NewPtrMetadataRequest()
	meta.Version = 9
	resp, err := kafkatest.RoundTrip(conn, kafkatest.Frame(meta, 2), 10*time.Second)
	if err == nil {
		t.Fatalf("Metadata before authentication answered (%d bytes)", len(resp))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection left open after an unauthenticated Metadata: %v", err)
	}

	// A client without credentials gets no data either.
	cl := newClient(t, s.saslText, kgo.RequestRetries(0), kgo.RetryTimeout(3*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err == nil {
		t.Fatal("Metadata served without credentials on a SASL listener")
	}
}

// TestSASLReauthentication: with connections.max.reauth.ms the session
// lifetime is announced and franz-go re-authenticates on the same
// connection; a raw client that does not is cut off at its next request.
func TestSASLReauthentication(t *testing.T) {
	s := startSASLBroker(t, "--set", "security.connections_max_reauth_ms=1500")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := s.client(t, s.saslText, scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism(), false)
	createTopic(t, cl, "reauth", 1)
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		if err := cl.ProduceSync(ctx, testRecord("reauth", i, time.Now())).FirstErr(); err != nil {
			t.Fatalf("produce %d across re-authentications: %v", i, err)
		}
		time.Sleep(100 * time.Millisecond) // pacing, not waiting for a condition
	}

	conn, err := net.DialTimeout("tcp", s.saslText, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	lifetime := rawPlainLogin(t, conn, "alice", "alice-secret")
	if lifetime != 1500 {
		t.Fatalf("session lifetime %d ms, want 1500", lifetime)
	}
	meta := kmsg.NewPtrMetadataRequest()
	meta.Version = 9
	if _, err := kafkatest.RoundTrip(conn, kafkatest.Frame(meta, 10), 10*time.Second); err != nil {
		t.Fatalf("Metadata within the session: %v", err)
	}
	time.Sleep(1600 * time.Millisecond) // let the session expire
	if _, err := kafkatest.RoundTrip(conn, kafkatest.Frame(meta, 11), 10*time.Second); err == nil {
		t.Fatal("Metadata served after the session expired")
	}
}

// rawPlainLogin authenticates conn with SaslHandshake v1 and
// SaslAuthenticate v1 (PLAIN) and returns the session lifetime.
func rawPlainLogin(t *testing.T, conn net.Conn, user, pass string) int64 {
	t.Helper()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "PLAIN"
	raw, err := kafkatest.RoundTrip(conn, kafkatest.Frame(hs, 1), 10*time.Second)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	hsResp := kmsg.NewPtrSASLHandshakeResponse()
	hsResp.Version = 1
	if err := hsResp.ReadFrom(raw[4:]); err != nil || hsResp.ErrorCode != 0 {
		t.Fatalf("handshake response: %v, code %d", err, hsResp.ErrorCode)
	}
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.Version, au.SASLAuthBytes = 1, []byte("\x00"+user+"\x00"+pass)
	raw, err = kafkatest.RoundTrip(conn, kafkatest.Frame(au, 2), 10*time.Second)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	auResp := kmsg.NewPtrSASLAuthenticateResponse()
	auResp.Version = 1
	if err := auResp.ReadFrom(raw[4:]); err != nil || auResp.ErrorCode != 0 {
		t.Fatalf("authenticate response: %v, code %d", err, auResp.ErrorCode)
	}
	return auResp.SessionLifetimeMillis
}

// TestSASLHandshakeV0: after SaslHandshake v0 the client sends bare SASL
// tokens (no Kafka header) and gets bare tokens back; a bad one closes the
// connection.
func TestSASLHandshakeV0(t *testing.T) {
	s := startSASLBroker(t)
	login := func(token string) (net.Conn, error) {
		conn, err := net.DialTimeout("tcp", s.saslText, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 0, "PLAIN"
		if _, err := kafkatest.RoundTrip(conn, kafkatest.Frame(hs, 1), 10*time.Second); err != nil {
			t.Fatalf("handshake v0: %v", err)
		}
		_, err = kafkatest.RoundTrip(conn, []byte(token), 10*time.Second)
		return conn, err
	}
	conn, err := login("\x00alice\x00alice-secret")
	if err != nil {
		t.Fatalf("bare PLAIN token: %v", err)
	}
	meta := kmsg.NewPtrMetadataRequest()
	meta.Version = 9
	if _, err := kafkatest.RoundTrip(conn, kafkatest.Frame(meta, 2), 10*time.Second); err != nil {
		t.Fatalf("Metadata after a v0 login: %v", err)
	}
	if _, err := login("\x00alice\x00wrong"); err == nil {
		t.Fatal("a wrong bare PLAIN token was answered")
	}
}

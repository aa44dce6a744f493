package quorum

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/riffle/riffle/internal/testport"
	"github.com/riffle/riffle/internal/tlstest"
)

// syncBuffer is a log sink safe for the transport's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// withTLS makes a transport mutual TLS as the daemon does (cluster.tls):
// the listener requires a certificate from ca, dials verify the peer's.
func withTLS(ca *tlstest.CA, pair tlstest.Pair, log *syncBuffer, t testing.TB) func(*TransportConfig) {
	cert := pair.TLSCertificate(t)
	return func(c *TransportConfig) {
		c.Handler = echoTopics
		c.Log = slog.New(slog.NewTextHandler(log, nil))
		c.ServerTLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs: ca.Pool(), SessionTicketsDisabled: true}
		c.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, _ := net.SplitHostPort(addr)
			d := tls.Dialer{Config: &tls.Config{RootCAs: ca.Pool(), ServerName: host, Certificates: []tls.Certificate{cert}}}
			return d.DialContext(ctx, network, addr)
		}
	}
}

// TestTransportTLS: raft messages and calls go over mutual TLS, idle call
// connections are reused; a plaintext peer, a peer with a certificate of
// another CA and a TLS peer of a plaintext listener are refused at once,
// each side logging why.
func TestTransportTLS(t *testing.T) {
	ca := tlstest.NewCA(t)
	var log syncBuffer
	nodes := cluster(t, 2, withTLS(ca, ca.Node(t, "node", "riffle-node"), &log, t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var batch []*raftpb.Message
	for i := range uint64(50) {
		batch = append(batch, msg(0, 1, i))
	}
	nodes[0].tr.Send(batch)
	eventually(t, 20*time.Second, "50 messages over TLS", func() bool { return len(nodes[1].in.indexesFrom(0)) >= 50 })
	if got := nodes[1].in.indexesFrom(0); !inOrder(got, 0, 50) {
		t.Fatalf("messages over TLS: %v", got)
	}
	for i := range 5 {
		if _, err := nodes[1].tr.Call(ctx, 0, createTopics("tls")); err != nil {
			t.Fatalf("call %d over TLS: %v", i, err)
		}
	}
	if strings.Contains(log.String(), "level=WARN") {
		t.Fatalf("warnings on a healthy TLS transport:\n%s", log.String())
	}

	// A plaintext peer: the handshake fails on its hello, the listener says so.
	expectClosed(t, "plaintext hello to a TLS listener", rawConn(t, nodes[0].tr.Addr().String(), connRaft, 1))
	eventually(t, 10*time.Second, "the TLS listener's warning", func() bool {
		return strings.Contains(log.String(), "cluster TLS handshake failed")
	})

	// A node whose certificate another CA signed: nothing is delivered.
	other := tlstest.NewCA(t)
	var otherLog syncBuffer
	peers := map[int32]string{0: nodes[0].tr.Addr().String(), 5: testport.Addr(t)}
	stranger := startNode(t, 5, peers, withTLS(other, other.Node(t, "stranger", "stranger"), &otherLog, t))
	if _, err := stranger.tr.Call(ctx, 0, createTopics("x")); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("call with a certificate of another CA: %v", err)
	}

	// A TLS node calling a plaintext listener fails at once; the listener
	// names the mistake.
	var plainLog syncBuffer
	plainAddrs := testport.Addrs(t, 2)
	plainPeers := map[int32]string{3: plainAddrs[0], 4: plainAddrs[1]}
	startNode(t, 3, plainPeers, func(c *TransportConfig) {
		c.Handler = echoTopics
		c.Log = slog.New(slog.NewTextHandler(&plainLog, nil))
	})
	tlsNode := startNode(t, 4, plainPeers, withTLS(ca, ca.Node(t, "n4", "n4"), &log, t))
	if _, err := tlsNode.tr.Call(ctx, 3, createTopics("x")); err == nil {
		t.Fatal("a TLS call to a plaintext listener succeeded")
	}
	eventually(t, 10*time.Second, "the plaintext listener's warning", func() bool {
		return strings.Contains(plainLog.String(), "TLS handshake on a plaintext cluster listener")
	})
}

package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/riffle/riffle/internal/brokertest"
	"github.com/riffle/riffle/internal/tlstest"
)

const (
	interBrokerPassword = "inter-broker-secret"
	reauthMs            = 3000 // security.connections_max_reauth_ms
)

// secureNode is one node's files: its own copies, so that a test can
// replace one node's certificate, CA or password and leave the others'.
type secureNode struct {
	cert, key, ca, password string
}

// secureCluster is three nodes whose only Kafka listener is SASL_SSL with
// client certificates required, SCRAM-SHA-512 between brokers as user
// "broker" (which each node creates from its password file), and mutual
// TLS on the cluster listener.
type secureCluster struct {
	c     *brokertest.Cluster
	nodes []secureNode
	opts  []kgo.Opt // a client's TLS and SASL
}

func startSecureCluster(t *testing.T) *secureCluster {
	t.Helper()
	ca := tlstest.NewCA(t)
	s := &secureCluster{}
	for id := 1; id <= 3; id++ {
		dir := t.TempDir()
		n := secureNode{cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem"),
			ca: filepath.Join(dir, "ca.pem"), password: filepath.Join(dir, "password")}
		n.installTLS(t, ca, ca.Node(t, fmt.Sprintf("node%d", id), fmt.Sprintf("riffle-node-%d", id)))
		n.setPassword(t, interBrokerPassword)
		s.nodes = append(s.nodes, n)
	}
	s.c = brokertest.StartClusterNodeArgs(t, 3, func(id int32) []string {
		n := s.nodes[id-1]
		return []string{
			"--set", "broker.listeners=SASL_SSL://127.0.0.1:0",
			"--set", "security.ssl_cert_file=" + n.cert,
			"--set", "security.ssl_key_file=" + n.key,
			"--set", "security.ssl_ca_file=" + n.ca,
			"--set", "security.ssl_client_auth=required",
			"--set", "security.sasl_enabled_mechanisms=SCRAM-SHA-512",
			"--set", "security.sasl_mechanism_inter_broker_protocol=SCRAM-SHA-512",
			"--set", "security.inter_broker_username=broker",
			"--set", "security.inter_broker_password_file=" + n.password,
			"--set", "cluster.tls=true",
			// Followers must renew their SASL sessions (KIP-368).
			"--set", fmt.Sprintf("security.connections_max_reauth_ms=%d", reauthMs),
		}
	})
	client := ca.Client(t, "client", "test-client").TLSCertificate(t)
	s.opts = []kgo.Opt{
		kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{client}}),
		kgo.SASL(scram.Auth{User: "broker", Pass: interBrokerPassword}.AsSha512Mechanism()),
	}
	return s
}

// installTLS writes the node's certificate and key (pair, issued by ca)
// and the CA.
func (n secureNode) installTLS(t *testing.T, ca *tlstest.CA, pair tlstest.Pair) {
	t.Helper()
	for src, dst := range map[string]string{pair.CertFile: n.cert, pair.KeyFile: n.key, ca.CAFile: n.ca} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func (n secureNode) setPassword(t *testing.T, password string) {
	t.Helper()
	if err := os.WriteFile(n.password, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (s *secureCluster) client(t *testing.T, addrs []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newClient(t, addrs[0], append(append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, s.opts...), opts...)...)
}

// TestInterBrokerTLSAndSASL: a cluster whose only Kafka listener is
// SASL_SSL (client certificates required) and whose cluster listener is
// TLS replicates: with min.insync.replicas=3 an acks=all produce succeeds
// only once both followers fetched the records over SASL_SSL; a
// transaction over three partitions commits (its markers go to the other
// leaders over the same listener); after the leader is killed the records
// are read from a new leader.
func TestInterBrokerTLSAndSASL(t *testing.T) {
	s := startSecureCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	cl := s.client(t, s.c.Addrs(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordDeliveryTimeout(90*time.Second))
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kmsg.StringPtr("3")}, "secure"); err != nil {
		t.Fatalf("create secure: %v", err)
	}
	leader := waitPartition(t, s.c.Addrs(), "secure", replicationWait, "partition secure/0 with a leader and a full ISR",
		func(st partState) bool { return st.leader > 0 && slices.Equal(st.isr, []int32{1, 2, 3}) }, s.opts...).leader
	// Producing for several SASL session lifetimes: the followers renew
	// theirs on the same connection, so none of them is cut off.
	start := time.Now()
	n := 0
	for ; n < 100 || time.Since(start) < 3*reauthMs*time.Millisecond; n++ {
		r := &kgo.Record{Topic: "secure", Partition: 0, Value: fmt.Appendf(nil, "v-%05d", n)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %d with acks=all and min.insync.replicas=3: %v", n, err)
		}
	}
	for id, b := range s.c.Nodes() {
		for _, line := range strings.Split(b.Output(), "\n") {
			if strings.Contains(line, "replica fetch failed") {
				t.Fatalf("node %d: a follower's fetch failed: %s", id+1, line)
			}
		}
	}

	// A transaction over partitions led by different nodes.
	if _, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kmsg.StringPtr("2")}, "secure-txn"); err != nil {
		t.Fatalf("create secure-txn: %v", err)
	}
	txn := s.client(t, s.c.Addrs(), kgo.TransactionalID("ib-txn"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for p := range int32(3) {
		for i := range 5 {
			r := &kgo.Record{Topic: "secure-txn", Partition: p, Value: fmt.Appendf(nil, "t-%d-%d", p, i)}
			if err := txn.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("transactional produce: %v", err)
			}
		}
	}
	if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}
	// read_committed sees the records only once every partition has its
	// commit marker.
	rc := s.client(t, s.c.Addrs(), kgo.ConsumeTopics("secure-txn"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	rctx, rcancel := context.WithTimeout(ctx, 90*time.Second)
	defer rcancel()
	for got := 0; got < 15; {
		fs := rc.PollFetches(rctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("read_committed after the commit (%d of 15 records): %v", got, err)
		}
		got += fs.NumRecords()
	}

	s.c.Node(leader).Kill()
	waitNewLeader(t, s.c, "secure", leader, s.opts...)
	cons := s.client(t, liveAddrs(s.c, leader), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		"secure": {0: kgo.NewOffset().AtStart()}}))
	var values []string
	for len(values) < n {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume from the new leader (%d of %d records): %v", len(values), n, err)
		}
		fs.EachRecord(func(r *kgo.Record) { values = append(values, string(r.Value)) })
	}
	for i, v := range values {
		if want := fmt.Sprintf("v-%05d", i); v != want {
			t.Fatalf("record %d from the new leader is %q, want %q", i, v, want)
		}
	}
}

// TestInterBrokerSecurityFailures: a node with a wrong inter-broker
// password serves but does not replicate (it leaves the ISR, and both it
// and the leader log the refused authentication); a node whose certificate
// and CA are another CA's does not reach the quorum, and the voters log
// the failed TLS handshakes.
func TestInterBrokerSecurityFailures(t *testing.T) {
	s := startSecureCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	n3 := s.c.Node(3)

	n3.Stop()
	s.nodes[2].setPassword(t, "wrong-password")
	n3.Restart()
	cl := s.client(t, s.c.Addrs(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const parts = 3
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, parts, 3, map[string]*string{"min.insync.replicas": kmsg.StringPtr("2"),
		"replica.lag.time.max.ms": kmsg.StringPtr(fmt.Sprint(lagTimeMaxMs))}, "wrongpass"); err != nil {
		t.Fatalf("create wrongpass: %v", err)
	}
	// Each produce is acknowledged once node 3, unable to fetch, has left
	// the ISR of the partitions it follows.
	for p := range int32(parts) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "wrongpass", Partition: p, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce to partition %d: %v", p, err)
		}
	}
	m, err := nodeMetadata(ctx, s.c.Node(1).Addr(), s.opts...)
	if err != nil {
		t.Fatal(err)
	}
	followed := 0
	for _, mt := range m.Topics {
		for _, p := range mt.Partitions {
			if mt.Topic == nil || *mt.Topic != "wrongpass" || p.Leader == 3 {
				continue
			}
			followed++
			if slices.Contains(p.ISR, 3) || len(p.ISR) != 2 {
				t.Errorf("partition %d led by %d: ISR %v, want two replicas and not node 3", p.Partition, p.Leader, p.ISR)
			}
		}
	}
	if followed == 0 {
		t.Fatal("node 3 leads every partition: no follower to check")
	}
	waitOutput(t, n3, "replica fetch failed", "SASL_AUTHENTICATION_FAILED")
	waitOutput(t, s.c.Node(1), "sasl: authentication failed")

	n3.Stop()
	other := tlstest.NewCA(t)
	s.nodes[2].setPassword(t, interBrokerPassword)
	s.nodes[2].installTLS(t, other, other.Node(t, "stranger", "riffle-node-3"))
	n3.RestartUnready()
	defer n3.Kill()
	waitOutput(t, n3, "certificate signed by unknown authority")
	waitOutput(t, s.c.Node(1), "cluster TLS handshake failed")
	// Not registered again: the voters list brokers 1 and 2 only.
	if m, err = nodeMetadata(ctx, s.c.Node(1).Addr(), s.opts...); err != nil {
		t.Fatal(err)
	}
	if got := brokerIDs(m); !slices.Equal(got, []int32{1, 2}) {
		t.Fatalf("brokers with node 3 outside the quorum: %v", got)
	}
}

// waitOutput waits until b's output has a line holding every one of parts.
func waitOutput(t *testing.T, b *brokertest.Broker, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(replicationWait)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(b.Output(), "\n") {
			if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
				return
			}
		}
		time.Sleep(200 * time.Millisecond) // a poll interval, not a wait for an event
	}
	t.Fatalf("no output line with %q after %v", parts, replicationWait)
}

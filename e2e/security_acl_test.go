package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestACLs: with the authorizer on, a principal without WRITE cannot
// produce to a topic, one without DESCRIBE does not see it in Metadata,
// one without READ cannot fetch it, and only a super user manages ACLs.
// The PLAINTEXT (loopback) listener's User:ANONYMOUS is a super user here,
// the bootstrap pattern README describes.
func TestACLs(t *testing.T) {
	s := startSASLBroker(t, "--set", "security.authorizer_enabled=true",
		"--set", "security.super_users=User:ANONYMOUS;User:admin")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	admin := kadm.NewClient(newClient(t, s.b.Addr()))
	if _, err := admin.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateTopic(ctx, 1, 1, nil, "secret"); err != nil {
		t.Fatal(err)
	}
	acls := kadm.NewACLs().Allow("User:alice").Topics("orders").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral)
	res, err := admin.CreateACLs(ctx, acls)
	if err == nil {
		for _, r := range res {
			err = errors.Join(err, r.Err)
		}
	}
	if err != nil {
		t.Fatalf("create ACLs: %v", err)
	}
	read := kadm.NewACLs().Allow("User:bob").Topics("orders").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternPrefixed).
		Groups("bob-").Operations(kadm.OpRead)
	if _, err := admin.CreateACLs(ctx, read); err != nil {
		t.Fatal(err)
	}
	dreq := kmsg.NewPtrDescribeACLsRequest()
	dreq.ResourceType, dreq.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	dreq.Operation, dreq.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	described, err := dreq.RequestWith(ctx, newClient(t, s.b.Addr()))
	if err != nil || described.ErrorCode != 0 || len(described.Resources) != 3 {
		t.Fatalf("describe ACLs: %+v, %v", described, err)
	}

	alice := s.client(t, s.saslSSL, scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism(), true,
		kgo.DisableIdempotentWrite())
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("ok")}).FirstErr(); err != nil {
		t.Fatalf("alice produces to orders: %v", err)
	}
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "secret", Value: []byte("no")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice produces to secret: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	// Metadata for all topics shows alice only orders (WRITE implies DESCRIBE).
	meta, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tp := range meta.Topics {
		names = append(names, *tp.Topic)
	}
	if !slices.Equal(names, []string{"orders"}) {
		t.Fatalf("alice sees topics %v, want [orders]", names)
	}
	// Alice may not create ACLs.
	aliceAdm := kadm.NewClient(alice)
	res, err = aliceAdm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Topics("secret").Operations(kadm.OpAll).ResourcePatternType(kadm.ACLPatternLiteral))
	if err == nil && (len(res) == 0 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed)) {
		t.Fatalf("alice creates an ACL: %+v", res)
	}

	// Bob reads orders (prefixed READ) as group bob-1, but not secret.
	bob := s.client(t, s.saslSSL, scram.Auth{User: "bob", Pass: "bob-secret"}.AsSha256Mechanism(), true,
		kgo.ConsumeTopics("orders"), kgo.ConsumerGroup("bob-1"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := bob.PollFetches(ctx)
	if err := fs.Err0(); err != nil || fs.NumRecords() != 1 {
		t.Fatalf("bob consumes orders: %d records, %v", fs.NumRecords(), err)
	}
	bobMeta, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range bobMeta.Topics {
		if *tp.Topic == "secret" {
			t.Fatal("bob sees secret without DESCRIBE")
		}
	}
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("secret")
	req.Topics = append(req.Topics, rt)
	named, err := req.RequestWith(ctx, bob)
	if err != nil || len(named.Topics) != 1 || named.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("bob asks for secret: %+v, %v", named, err)
	}
	checkRefusedTopicAPIs(ctx, t, admin, bob)
	fetchSecret := s.client(t, s.saslSSL, scram.Auth{User: "bob", Pass: "bob-secret"}.AsSha256Mechanism(), true,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"secret": {0: kgo.NewOffset().AtStart()}}))
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	defer pcancel()
	if n := fetchSecret.PollFetches(pctx).NumRecords(); n != 0 {
		t.Fatalf("bob fetched %d records of secret", n)
	}
}

// checkRefusedTopicAPIs: bob, with READ on orders only, is refused
// ListOffsets of secret, creating a topic, and deleting secret by name or
// by id, each with TOPIC_AUTHORIZATION_FAILED for that topic alone, and
// secret is still there.
func checkRefusedTopicAPIs(ctx context.Context, t *testing.T, admin *kadm.Client, bob *kgo.Client) {
	t.Helper()
	denied := kerr.TopicAuthorizationFailed.Code
	// Straight to the broker: the client would split requests by topic
	// and refuse the ones its metadata cannot place.
	broker := bob.SeedBrokers()[0]
	lreq := kmsg.NewPtrListOffsetsRequest()
	for _, name := range []string{"orders", "secret"} {
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = name
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Timestamp = -1
		lt.Partitions = append(lt.Partitions, lp)
		lreq.Topics = append(lreq.Topics, lt)
	}
	lresp, err := requestAs[*kmsg.ListOffsetsResponse](ctx, broker, lreq)
	if err != nil || len(lresp.Topics) != 2 {
		t.Fatalf("bob lists offsets: %+v, %v", lresp, err)
	}
	for _, lt := range lresp.Topics {
		if want := map[string]int16{"orders": 0, "secret": denied}[lt.Topic]; lt.Partitions[0].ErrorCode != want {
			t.Errorf("bob lists offsets of %s: code %d, want %d", lt.Topic, lt.Partitions[0].ErrorCode, want)
		}
	}
	creq := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "bobs", 1, 1
	creq.Topics = append(creq.Topics, ct)
	cresp, err := requestAs[*kmsg.CreateTopicsResponse](ctx, broker, creq)
	if err != nil || len(cresp.Topics) != 1 || cresp.Topics[0].Topic != "bobs" || cresp.Topics[0].ErrorCode != denied {
		t.Fatalf("bob creates a topic: %+v, %v", cresp, err)
	}
	meta, err := admin.Metadata(ctx, "secret")
	if err != nil || meta.Topics["secret"].Err != nil {
		t.Fatalf("secret's metadata: %v", err)
	}
	dreq := kmsg.NewPtrDeleteTopicsRequest()
	dreq.Version = 6 // names and ids
	byName, byID := kmsg.NewDeleteTopicsRequestTopic(), kmsg.NewDeleteTopicsRequestTopic()
	byName.Topic = kmsg.StringPtr("secret")
	byID.TopicID = meta.Topics["secret"].ID
	dreq.Topics = append(dreq.Topics, byName, byID)
	dresp, err := requestAs[*kmsg.DeleteTopicsResponse](ctx, broker, dreq)
	if err != nil || len(dresp.Topics) != 2 {
		t.Fatalf("bob deletes secret: %+v, %v", dresp, err)
	}
	for _, dt := range dresp.Topics {
		if dt.Topic == nil || *dt.Topic != "secret" || dt.ErrorCode != denied {
			t.Errorf("bob deletes secret: %v code %d, want secret %d", dt.Topic, dt.ErrorCode, denied)
		}
	}
	if meta, err := admin.Metadata(ctx, "secret"); err != nil || meta.Topics["secret"].Err != nil {
		t.Fatalf("secret after bob's delete: %v, %v", err, meta.Topics["secret"].Err)
	}
}

// requestAs sends req to broker as it is and returns its response.
func requestAs[R kmsg.Response](ctx context.Context, broker *kgo.Broker, req kmsg.Request) (R, error) {
	resp, err := broker.Request(ctx, req)
	if err != nil {
		var zero R
		return zero, err
	}
	return resp.(R), nil
}

// TestCLIACLs: riffle acl add, list and delete.
func TestCLIACLs(t *testing.T) {
	s := startSASLBroker(t, "--set", "security.authorizer_enabled=true", "--set", "security.super_users=User:ANONYMOUS")
	addr := s.b.Addr()
	ok(t, addr, "", "acl", "add", "--allow", "User:alice", "--operation", "read,describe", "--topic", "logs-", "--prefixed")
	ok(t, addr, "", "acl", "add", "--deny", "User:bob", "--operation", "all", "--group", "*", "--host", "10.0.0.1")
	out := ok(t, addr, "", "acl", "list")
	for _, want := range []string{"topic:logs-  PREFIXED  User:alice  *         READ", "group:*      LITERAL   User:bob    10.0.0.1  ALL        DENY"} {
		if !strings.Contains(out, want) {
			t.Fatalf("acl list lacks %q:\n%s", want, out)
		}
	}
	ok(t, addr, "", "acl", "delete", "--allow", "User:alice", "--operation", "read", "--topic", "logs-", "--prefixed")
	if out := ok(t, addr, "", "acl", "list", "--json"); strings.Contains(out, `"READ"`) || !strings.Contains(out, `"DESCRIBE"`) {
		t.Fatalf("after deleting READ:\n%s", out)
	}
	fails(t, addr, 1, []string{"no ACL matched"}, "acl", "delete", "--allow", "User:alice", "--operation", "read", "--topic", "logs-", "--prefixed")
	fails(t, addr, 2, []string{"name one resource"}, "acl", "add", "--allow", "User:x", "--operation", "read")
}

// TestMTLSPrincipalACLs: on an SSL listener a verified client certificate
// is the principal User:<subject>; ACLs on it decide, and a client
// without a certificate is User:ANONYMOUS.
func TestMTLSPrincipalACLs(t *testing.T) {
	b, sslAddr, ca, _ := tlsBroker(t, "--set", "security.authorizer_enabled=true",
		"--set", "security.super_users=User:ANONYMOUS")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin := kadm.NewClient(newClient(t, b.Addr()))
	if _, err := admin.CreateTopic(ctx, 1, 1, nil, "mtls"); err != nil {
		t.Fatal(err)
	}
	acl := kadm.NewACLs().Allow("User:CN=alice,OU=riffle-test").Topics("mtls").Operations(kadm.OpWrite).
		ResourcePatternType(kadm.ACLPatternLiteral)
	if res, err := admin.CreateACLs(ctx, acl); err != nil || res[0].Err != nil {
		t.Fatalf("create ACL: %v %+v", err, res)
	}
	withCert := func(name, cn string) *kgo.Client {
		cert := ca.Client(t, name, cn).TLSCertificate(t)
		return newClient(t, sslAddr, kgo.DisableIdempotentWrite(), kgo.RequestRetries(0),
			kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", Certificates: []tls.Certificate{cert}}))
	}
	if err := withCert("alice", "alice").ProduceSync(ctx, &kgo.Record{Topic: "mtls", Value: []byte("a")}).FirstErr(); err != nil {
		t.Fatalf("alice's certificate: %v", err)
	}
	if err := withCert("mallory", "mallory").ProduceSync(ctx, &kgo.Record{Topic: "mtls", Value: []byte("m")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("mallory's certificate: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
}

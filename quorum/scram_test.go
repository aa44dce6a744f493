package quorum

import (
	"bytes"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestScramCredentialsPersist: credentials set through the controller are
// in the image as StoredKey and ServerKey (never the salted password),
// survive a restart (log replay) and a snapshot, and deletions apply.
func TestScramCredentialsPersist(t *testing.T) {
	n := newNode(t)
	ctrl, stop := n.open(self)
	salted := bytes.Repeat([]byte{7}, 64)
	set := []ScramChange{
		{User: "alice", Mechanism: ScramSHA512, Iterations: 4096, Salt: []byte("salt-a"), SaltedPassword: salted},
		{User: "alice", Mechanism: ScramSHA256, Iterations: 8192, Salt: []byte("salt-b"), SaltedPassword: salted[:32]},
		{User: "bob", Mechanism: ScramSHA256, Iterations: 4096, Salt: []byte("salt-c"), SaltedPassword: salted[:32]},
	}
	if err := ctrl.AlterScramCredentials(set); err != nil {
		t.Fatal(err)
	}
	want := NewScramCredential(ScramSHA512, []byte("salt-a"), salted, 4096)
	check := func(im *Image, what string) {
		t.Helper()
		got, ok := im.Security.ScramCredential("alice", ScramSHA512)
		if !ok || !bytes.Equal(got.StoredKey, want.StoredKey) || !bytes.Equal(got.ServerKey, want.ServerKey) ||
			!bytes.Equal(got.Salt, want.Salt) || got.Iterations != 4096 {
			t.Fatalf("%s: alice's SCRAM-SHA-512 credential = %+v, %v; want %+v", what, got, ok, want)
		}
		if users := im.Security.ScramUsers(); len(users) != 2 {
			t.Fatalf("%s: users %v", what, users)
		}
		if bytes.Contains(encodeImage(im), salted[:32]) {
			t.Fatalf("%s: the salted password is in the metadata", what)
		}
	}
	check(ctrl.Image(), "after the change")
	snap, err := decodeImage(encodeImage(ctrl.Image()), 1)
	if err != nil {
		t.Fatal(err)
	}
	check(snap, "snapshot")
	stop()
	ctrl, _ = n.open(self)
	check(ctrl.Image(), "after a restart")

	if err := ctrl.AlterScramCredentials([]ScramChange{{User: "bob", Mechanism: ScramSHA256, Delete: true}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := ctrl.Image().Security.ScramCredential("bob", ScramSHA256); ok {
		t.Fatal("bob's credential still there after deletion")
	}
	for _, bad := range []struct {
		ch   ScramChange
		want error
	}{
		{ScramChange{User: "bob", Mechanism: ScramSHA256, Delete: true}, kerr.ResourceNotFound},
		{ScramChange{User: "x", Mechanism: 3, Iterations: 4096, Salt: []byte("s"), SaltedPassword: salted}, kerr.UnsupportedSaslMechanism},
		{ScramChange{User: "x", Mechanism: ScramSHA256, Iterations: 100, Salt: []byte("s"), SaltedPassword: salted}, kerr.UnacceptableCredential},
		{ScramChange{User: "x", Mechanism: ScramSHA256, Iterations: 4096, SaltedPassword: salted}, kerr.UnacceptableCredential},
	} {
		if err := ctrl.AlterScramCredentials([]ScramChange{bad.ch}); !errors.Is(err, bad.want) {
			t.Errorf("%+v: %v, want %v", bad.ch, err, bad.want)
		}
	}
}

// TestACLsPersist: ACLs created through the controller survive a restart
// and a snapshot; deletion removes exactly the ACL named; invalid ACLs
// are refused.
func TestACLsPersist(t *testing.T) {
	n := newNode(t)
	ctrl, stop := n.open(self)
	read := ACL{ResourceType: kmsg.ACLResourceTypeTopic, Name: "orders", Pattern: kmsg.ACLResourcePatternTypePrefixed,
		Principal: "User:alice", Host: "*", Operation: kmsg.ACLOperationRead, Permission: kmsg.ACLPermissionTypeAllow}
	deny := read
	deny.Permission = kmsg.ACLPermissionTypeDeny
	if err := ctrl.CreateACLs([]ACL{read, deny, read}); err != nil {
		t.Fatal(err)
	}
	snap, err := decodeImage(encodeImage(ctrl.Image()), 1)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	ctrl, _ = n.open(self)
	for what, im := range map[string]*Image{"restart": ctrl.Image(), "snapshot": snap} {
		if got := im.Security.ACLs(); len(got) != 2 || got[0] != deny || got[1] != read {
			t.Fatalf("%s: ACLs %v", what, got)
		}
	}
	if err := ctrl.DeleteACLs([]ACL{deny}); err != nil {
		t.Fatal(err)
	}
	if got := ctrl.Image().Security.ACLs(); len(got) != 1 || got[0] != read {
		t.Fatalf("after deleting the DENY: %v", got)
	}
	bad := read
	bad.Principal = "alice"
	if err := ctrl.CreateACLs([]ACL{bad}); !errors.Is(err, kerr.InvalidRequest) {
		t.Fatalf("principal without User: %v", err)
	}
}

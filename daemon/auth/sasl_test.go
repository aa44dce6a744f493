package auth

import (
	"context"
	"crypto/pbkdf2"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/riffle/riffle/quorum"
)

// testCreds holds alice's credentials for both SCRAM mechanisms, made as
// AlterUserScramCredentials would.
func testCreds(t testing.TB, password string) Credentials {
	store := map[quorum.ScramMechanism]quorum.ScramCredential{}
	for _, m := range []quorum.ScramMechanism{quorum.ScramSHA256, quorum.ScramSHA512} {
		salt := []byte("0123456789abcdef-" + m.Name())
		salted, err := pbkdf2.Key(m.Hash(), password, salt, 4096, m.Hash()().Size())
		if err != nil {
			t.Fatal(err)
		}
		store[m] = quorum.NewScramCredential(m, salt, salted, 4096)
	}
	return func(user string, m quorum.ScramMechanism) (quorum.ScramCredential, bool) {
		c, ok := store[m]
		return c, ok && user == "alice"
	}
}

// run drives a franz-go client mechanism against a server exchange.
func run(t *testing.T, client sasl.Mechanism, server Exchange) error {
	t.Helper()
	sess, msg, err := client.Authenticate(context.Background(), "localhost:9092")
	if err != nil {
		t.Fatal(err)
	}
	for {
		out, done, err := server.Step(msg)
		if err != nil {
			return err
		}
		clientDone, next, err := sess.Challenge(out)
		if err != nil {
			return err
		}
		if done {
			if !clientDone {
				t.Fatal("server done, client not")
			}
			return nil
		}
		msg = next
	}
}

func TestSASLAgainstFranzGoClients(t *testing.T) {
	creds := testCreds(t, "s3cret")
	for _, tc := range []struct {
		mech   string
		client sasl.Mechanism
		ok     bool
	}{
		{MechScramSHA256, scram.Auth{User: "alice", Pass: "s3cret"}.AsSha256Mechanism(), true},
		{MechScramSHA512, scram.Auth{User: "alice", Pass: "s3cret"}.AsSha512Mechanism(), true},
		{MechPlain, plain.Auth{User: "alice", Pass: "s3cret"}.AsMechanism(), true},
		{MechScramSHA512, scram.Auth{User: "alice", Pass: "wrong"}.AsSha512Mechanism(), false},
		{MechScramSHA256, scram.Auth{User: "mallory", Pass: "s3cret"}.AsSha256Mechanism(), false},
		{MechPlain, plain.Auth{User: "alice", Pass: "wrong"}.AsMechanism(), false},
		{MechPlain, plain.Auth{User: "mallory", Pass: "s3cret"}.AsMechanism(), false},
		{MechPlain, plain.Auth{Zid: "bob", User: "alice", Pass: "s3cret"}.AsMechanism(), false},
	} {
		x, err := NewExchange(tc.mech, creds)
		if err != nil {
			t.Fatal(err)
		}
		err = run(t, tc.client, x)
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v", tc.mech, err)
		case tc.ok && x.Principal() != "User:alice":
			t.Errorf("%s: principal %q", tc.mech, x.Principal())
		case !tc.ok && err == nil:
			t.Errorf("%s: a bad credential authenticated", tc.mech)
		case !tc.ok && !errors.Is(err, ErrAuthFailed):
			t.Errorf("%s: %v, want ErrAuthFailed", tc.mech, err)
		case !tc.ok && x.Principal() != "":
			t.Errorf("%s: principal %q after a failure", tc.mech, x.Principal())
		}
	}
	if _, err := NewExchange("GSSAPI", creds); err == nil {
		t.Error("GSSAPI accepted")
	}
}

// TestScramTamperedFinal: a proof for a different nonce, or a changed
// channel binding, fails.
func TestScramTamperedFinal(t *testing.T) {
	creds := testCreds(t, "pw")
	x, _ := NewExchange(MechScramSHA256, creds)
	if _, _, err := x.Step([]byte("n,,n=alice,r=abc")); err != nil {
		t.Fatal(err)
	}
	for _, final := range []string{"c=biws,r=abc,p=AAAA", "c=eSws,r=abc,p=AAAA", "c=biws,p=AAAA", "garbage"} {
		y, _ := NewExchange(MechScramSHA256, creds)
		_, _, _ = y.Step([]byte("n,,n=alice,r=abc"))
		if _, _, err := y.Step([]byte(final)); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("final %q: %v", final, err)
		}
	}
	for _, first := range []string{"p=tls-unique,,n=alice,r=x", "n,,n=al,ice,r=x", "n,,r=x", "n,a=bob,n=alice,r=x", "n,,n=alice,r=x,m=ext", "n,,n=a=ZZ,r=x"} {
		y, _ := NewExchange(MechScramSHA256, creds)
		if _, _, err := y.Step([]byte(first)); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("first %q: %v", first, err)
		}
	}
	if u, err := decodeSaslName("a=2Cb=3Dc"); err != nil || u != "a,b=c" {
		t.Errorf("decodeSaslName = %q, %v", u, err)
	}
}

func FuzzParseScramClientFirst(f *testing.F) {
	for _, s := range []string{"n,,n=alice,r=abc", "y,a=alice,n=alice,r=x,tokenauth=true", "n,,n==2C=3D,r=x", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		first, err := ParseScramClientFirst(msg)
		if err != nil {
			if !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("error %v does not wrap ErrAuthFailed", err)
			}
			return
		}
		if first.User == "" || first.Nonce == "" || first.GS2Header+first.Bare != string(msg) {
			t.Fatalf("parsed %+v from %q", first, msg)
		}
	})
}

func FuzzParseScramClientFinal(f *testing.F) {
	for _, s := range []string{"c=biws,r=abc,p=AAAA", "c=biws,r=abc,x=1,p=", ",p=", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		final, err := ParseScramClientFinal(msg)
		if err != nil {
			if !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("error %v does not wrap ErrAuthFailed", err)
			}
			return
		}
		if len(final.WithoutProof) >= len(msg) {
			t.Fatalf("parsed %+v from %q", final, msg)
		}
	})
}

func FuzzParsePlain(f *testing.F) {
	for _, s := range []string{"\x00alice\x00pw", "alice\x00alice\x00pw", "\x00\x00", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		user, pw, err := ParsePlain(msg)
		if err != nil {
			if !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("error %v does not wrap ErrAuthFailed", err)
			}
			return
		}
		if user == "" || pw == "" {
			t.Fatalf("accepted %q", msg)
		}
	})
}

// FuzzScramExchange: any client messages against the server end in an
// error or, only with the right proof, success; never a panic.
func FuzzScramExchange(f *testing.F) {
	f.Add([]byte("n,,n=alice,r=abc"), []byte("c=biws,r=abc,p=AAAA"))
	creds := testCreds(f, "pw")
	f.Fuzz(func(t *testing.T, first, final []byte) {
		x, _ := NewExchange(MechScramSHA512, creds)
		if _, _, err := x.Step(first); err != nil {
			return
		}
		if _, done, err := x.Step(final); done || err == nil {
			t.Fatalf("authenticated with a guessed proof: %q %q", first, final)
		}
	})
}

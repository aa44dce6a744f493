package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/riffle/riffle/quorum"
)

// ErrAuthFailed is every authentication failure a client is told about
// (SASL_AUTHENTICATION_FAILED); the wrapped text is for the log. Unknown
// users and wrong passwords fail alike, so a client cannot tell them apart.
var ErrAuthFailed = errors.New("authentication failed")

// Mechanisms served, by SASL name.
const (
	MechPlain       = "PLAIN"
	MechScramSHA256 = "SCRAM-SHA-256"
	MechScramSHA512 = "SCRAM-SHA-512"
)

// Credentials finds a user's SCRAM credential (the metadata image's).
type Credentials func(user string, m quorum.ScramMechanism) (quorum.ScramCredential, bool)

// Exchange is one SASL authentication: Step takes each client message and
// returns the server's answer; done once the client is authenticated.
// Any error ends the exchange.
type Exchange interface {
	Step(in []byte) (out []byte, done bool, err error)
	// Principal is the authenticated principal ("User:alice"), once done.
	Principal() string
}

// NewExchange starts an exchange for mechanism; an error for a mechanism
// not served.
func NewExchange(mechanism string, creds Credentials) (Exchange, error) {
	switch mechanism {
	case MechPlain:
		return &plainExchange{creds: creds}, nil
	case MechScramSHA256, MechScramSHA512:
		return &scramExchange{mech: quorum.ScramMechanisms[mechanism], creds: creds}, nil
	}
	return nil, fmt.Errorf("unsupported SASL mechanism %q", mechanism)
}

// plainExchange is RFC 4616: one message, authzid NUL authcid NUL
// password. The password is checked against the user's SCRAM credential
// (SHA-512 first), since no password is stored.
type plainExchange struct {
	creds     Credentials
	principal string
}

// ParsePlain splits a PLAIN message. An authzid, if given, must equal the
// user (Kafka allows no other).
func ParsePlain(msg []byte) (user, password string, err error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", "", fmt.Errorf("%w: PLAIN message has %d fields, want 3", ErrAuthFailed, len(parts))
	}
	authz, user, password := string(parts[0]), string(parts[1]), string(parts[2])
	if user == "" || password == "" {
		return "", "", fmt.Errorf("%w: PLAIN: empty user or password", ErrAuthFailed)
	}
	if authz != "" && authz != user {
		return "", "", fmt.Errorf("%w: PLAIN: authorization id %q differs from user %q", ErrAuthFailed, authz, user)
	}
	return user, password, nil
}

func (p *plainExchange) Step(in []byte) ([]byte, bool, error) {
	if p.principal != "" {
		return nil, false, fmt.Errorf("%w: PLAIN: message after authentication", ErrAuthFailed)
	}
	user, password, err := ParsePlain(in)
	if err != nil {
		return nil, false, err
	}
	for _, m := range []quorum.ScramMechanism{quorum.ScramSHA512, quorum.ScramSHA256} {
		c, ok := p.creds(user, m)
		if !ok {
			continue
		}
		salted, err := pbkdf2.Key(m.Hash(), password, c.Salt, int(c.Iterations), m.Hash()().Size())
		if err != nil {
			return nil, false, fmt.Errorf("%w: PLAIN: %v", ErrAuthFailed, err)
		}
		if !hmac.Equal(quorum.NewScramCredential(m, c.Salt, salted, c.Iterations).StoredKey, c.StoredKey) {
			return nil, false, fmt.Errorf("%w: PLAIN: wrong password for user %q", ErrAuthFailed, user)
		}
		p.principal = "User:" + user
		return nil, true, nil
	}
	return nil, false, fmt.Errorf("%w: PLAIN: unknown user %q", ErrAuthFailed, user)
}

func (p *plainExchange) Principal() string { return p.principal }

// scramExchange is the server side of RFC 5802 (SCRAM-SHA-256 and -512,
// RFC 7677), without channel binding, as Kafka serves it.
type scramExchange struct {
	mech  quorum.ScramMechanism
	creds Credentials

	step            int
	done            bool
	user            string
	gs2Header       string
	clientFirstBare string
	serverFirst     string
	nonce           string
	cred            quorum.ScramCredential
}

// ScramClientFirst is a parsed client-first-message.
type ScramClientFirst struct {
	GS2Header string // "n,," or "y,,": no channel binding
	Bare      string // client-first-message-bare
	User      string // saslname decoded ("=2C" is ',', "=3D" is '=')
	Nonce     string
}

// ParseScramClientFirst parses a client-first-message: gs2 header (no
// channel binding, no authzid other than the user), then n=user,r=nonce
// and optional extensions (Kafka's tokenauth among them), which are
// ignored.
func ParseScramClientFirst(msg []byte) (ScramClientFirst, error) {
	s := string(msg)
	var out ScramClientFirst
	cbind, rest, ok := strings.Cut(s, ",")
	if !ok || (cbind != "n" && cbind != "y") {
		return out, fmt.Errorf("%w: SCRAM: channel binding %q not supported", ErrAuthFailed, cbind)
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return out, fmt.Errorf("%w: SCRAM: malformed client-first-message", ErrAuthFailed)
	}
	out.GS2Header, out.Bare = cbind+","+authz+",", bare
	attrs := strings.Split(bare, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return out, fmt.Errorf("%w: SCRAM: client-first-message wants n=,r=", ErrAuthFailed)
	}
	user, err := decodeSaslName(attrs[0][2:])
	if err != nil {
		return out, err
	}
	if authz != "" {
		if !strings.HasPrefix(authz, "a=") {
			return out, fmt.Errorf("%w: SCRAM: malformed authorization id", ErrAuthFailed)
		}
		if a, err := decodeSaslName(authz[2:]); err != nil || a != user {
			return out, fmt.Errorf("%w: SCRAM: authorization id differs from the user", ErrAuthFailed)
		}
	}
	out.User, out.Nonce = user, attrs[1][2:]
	if out.User == "" || out.Nonce == "" || strings.ContainsAny(out.Nonce, ",") {
		return out, fmt.Errorf("%w: SCRAM: empty user or nonce", ErrAuthFailed)
	}
	for _, a := range attrs[2:] {
		if strings.HasPrefix(a, "m=") {
			return out, fmt.Errorf("%w: SCRAM: mandatory extension not supported", ErrAuthFailed)
		}
	}
	return out, nil
}

// decodeSaslName undoes RFC 5802's escaping of ',' and '=' in names.
func decodeSaslName(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == ',':
			return "", fmt.Errorf("%w: SCRAM: ',' in a name", ErrAuthFailed)
		case s[i] != '=':
			b.WriteByte(s[i])
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
			i += 2
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
			i += 2
		default:
			return "", fmt.Errorf("%w: SCRAM: bad escape in name", ErrAuthFailed)
		}
	}
	return b.String(), nil
}

// ScramClientFinal is a parsed client-final-message.
type ScramClientFinal struct {
	ChannelBinding []byte // c=, decoded
	Nonce          string // r=
	Proof          []byte // p=, decoded
	WithoutProof   string // the message up to ",p="
}

// ParseScramClientFinal parses c=...,r=...[,extensions],p=...
func ParseScramClientFinal(msg []byte) (ScramClientFinal, error) {
	s := string(msg)
	var out ScramClientFinal
	i := strings.LastIndex(s, ",p=")
	if i < 0 {
		return out, fmt.Errorf("%w: SCRAM: client-final-message without proof", ErrAuthFailed)
	}
	out.WithoutProof = s[:i]
	proof, err := base64.StdEncoding.DecodeString(s[i+3:])
	if err != nil {
		return out, fmt.Errorf("%w: SCRAM: proof: %v", ErrAuthFailed, err)
	}
	out.Proof = proof
	attrs := strings.Split(out.WithoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return out, fmt.Errorf("%w: SCRAM: client-final-message wants c=,r=", ErrAuthFailed)
	}
	if out.ChannelBinding, err = base64.StdEncoding.DecodeString(attrs[0][2:]); err != nil {
		return out, fmt.Errorf("%w: SCRAM: channel binding: %v", ErrAuthFailed, err)
	}
	out.Nonce = attrs[1][2:]
	return out, nil
}

func (x *scramExchange) Step(in []byte) ([]byte, bool, error) {
	x.step++
	switch x.step {
	case 1:
		first, err := ParseScramClientFirst(in)
		if err != nil {
			return nil, false, err
		}
		cred, ok := x.creds(first.User, x.mech)
		if !ok {
			return nil, false, fmt.Errorf("%w: %s: unknown user %q", ErrAuthFailed, x.mech.Name(), first.User)
		}
		var r [24]byte
		_, _ = rand.Read(r[:])
		x.user, x.cred, x.gs2Header, x.clientFirstBare = first.User, cred, first.GS2Header, first.Bare
		x.nonce = first.Nonce + base64.RawURLEncoding.EncodeToString(r[:])
		x.serverFirst = "r=" + x.nonce + ",s=" + base64.StdEncoding.EncodeToString(cred.Salt) +
			",i=" + strconv.Itoa(int(cred.Iterations))
		return []byte(x.serverFirst), false, nil
	case 2:
		final, err := ParseScramClientFinal(in)
		if err != nil {
			return nil, false, err
		}
		if string(final.ChannelBinding) != x.gs2Header {
			return nil, false, fmt.Errorf("%w: SCRAM: channel binding differs from the gs2 header", ErrAuthFailed)
		}
		// librdkafka sends its own nonce again before the combined one;
		// Kafka accepts a final nonce that ends with the server-first
		// one, and so does this. The proof covers the message as sent.
		if !strings.HasSuffix(final.Nonce, x.nonce) {
			return nil, false, fmt.Errorf("%w: SCRAM: nonce differs", ErrAuthFailed)
		}
		h := x.mech.Hash()
		authMessage := x.clientFirstBare + "," + x.serverFirst + "," + final.WithoutProof
		sig := hmac.New(h, x.cred.StoredKey)
		sig.Write([]byte(authMessage))
		clientSig := sig.Sum(nil)
		if len(final.Proof) != len(clientSig) {
			return nil, false, fmt.Errorf("%w: SCRAM: proof of %d bytes", ErrAuthFailed, len(final.Proof))
		}
		clientKey := make([]byte, len(clientSig))
		subtle.XORBytes(clientKey, final.Proof, clientSig)
		stored := h()
		stored.Write(clientKey)
		if !hmac.Equal(stored.Sum(nil), x.cred.StoredKey) {
			return nil, false, fmt.Errorf("%w: %s: wrong password for user %q", ErrAuthFailed, x.mech.Name(), x.user)
		}
		srv := hmac.New(h, x.cred.ServerKey)
		srv.Write([]byte(authMessage))
		x.done = true
		return []byte("v=" + base64.StdEncoding.EncodeToString(srv.Sum(nil))), true, nil
	}
	return nil, false, fmt.Errorf("%w: SCRAM: message after the exchange ended", ErrAuthFailed)
}

func (x *scramExchange) Principal() string {
	if !x.done {
		return ""
	}
	return "User:" + x.user
}

package quorum

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SCRAM credentials live in the metadata log, so every node authenticates
// against the same set: the salt, iteration count, StoredKey and ServerKey
// of RFC 5802 (never the password, nor the salted password, which would
// let its holder log in). Record types 40 and up are security's, away
// from the numbers other record types take.
const (
	typeScramCredential       recordType = 40
	typeRemoveScramCredential recordType = 41
)

// ScramMechanism is Kafka's number for a SCRAM mechanism.
type ScramMechanism int8

const (
	ScramSHA256 ScramMechanism = 1
	ScramSHA512 ScramMechanism = 2
)

// Kafka's bounds on a SCRAM credential's iterations.
const (
	ScramIterationsMin = 4096
	ScramIterationsMax = 16384
)

// ScramMechanisms are the mechanisms served, by SASL name.
var ScramMechanisms = map[string]ScramMechanism{"SCRAM-SHA-256": ScramSHA256, "SCRAM-SHA-512": ScramSHA512}

// Name is the mechanism's SASL name.
func (m ScramMechanism) Name() string {
	switch m {
	case ScramSHA256:
		return "SCRAM-SHA-256"
	case ScramSHA512:
		return "SCRAM-SHA-512"
	}
	return fmt.Sprintf("unknown SCRAM mechanism %d", int8(m))
}

// Hash is the mechanism's hash function; nil for an unknown mechanism.
func (m ScramMechanism) Hash() func() hash.Hash {
	switch m {
	case ScramSHA256:
		return sha256.New
	case ScramSHA512:
		return sha512.New
	}
	return nil
}

// ScramCredential is what a server keeps of a SCRAM password.
type ScramCredential struct {
	Salt       []byte
	StoredKey  []byte // H(HMAC(SaltedPassword, "Client Key"))
	ServerKey  []byte // HMAC(SaltedPassword, "Server Key")
	Iterations int32
}

// NewScramCredential derives the stored keys from a salted password
// (Hi(password, salt, iterations), which clients send in
// AlterUserScramCredentials).
func NewScramCredential(m ScramMechanism, salt, saltedPassword []byte, iterations int32) ScramCredential {
	h := m.Hash()
	clientKey := hmacSum(h, saltedPassword, "Client Key")
	stored := h()
	stored.Write(clientKey)
	return ScramCredential{Salt: slices.Clone(salt), StoredKey: stored.Sum(nil),
		ServerKey: hmacSum(h, saltedPassword, "Server Key"), Iterations: iterations}
}

func hmacSum(h func() hash.Hash, key []byte, msg string) []byte {
	mac := hmac.New(h, key)
	mac.Write([]byte(msg))
	return mac.Sum(nil)
}

// Security is the image's security state: SCRAM credentials by user and
// mechanism, the ACLs and the client quotas. Immutable: a change builds a new one.
type Security struct {
	scram map[string]map[ScramMechanism]ScramCredential
	acls  map[ACL]struct{} // acl.go
	// quotas are the client quotas by entity and key (quota.go).
	quotas map[QuotaEntity]map[string]float64
}

// ScramCredential returns user's credential for m.
func (s Security) ScramCredential(user string, m ScramMechanism) (ScramCredential, bool) {
	c, ok := s.scram[user][m]
	return c, ok
}

// ScramUsers lists the users with credentials, sorted, each with its
// mechanisms in order.
func (s Security) ScramUsers() []string {
	return slices.Sorted(maps.Keys(s.scram))
}

// ScramMechanismsOf lists user's mechanisms in order.
func (s Security) ScramMechanismsOf(user string) []ScramMechanism {
	return slices.Sorted(maps.Keys(s.scram[user]))
}

// withScram returns s with user's credential for m set, or removed (nil).
func (s Security) withScram(user string, m ScramMechanism, c *ScramCredential) Security {
	next := maps.Clone(s.scram)
	if next == nil {
		next = map[string]map[ScramMechanism]ScramCredential{}
	}
	mechs := maps.Clone(next[user])
	if mechs == nil {
		mechs = map[ScramMechanism]ScramCredential{}
	}
	if c == nil {
		delete(mechs, m)
	} else {
		mechs[m] = *c
	}
	if len(mechs) == 0 {
		delete(next, user)
	} else {
		next[user] = mechs
	}
	s.scram = next
	return s
}

// records rebuild s (snapshots), in a fixed order.
func (s Security) records() []record {
	var recs []record
	for _, user := range s.ScramUsers() {
		for _, m := range s.ScramMechanismsOf(user) {
			c := s.scram[user][m]
			recs = append(recs, scramCredentialRecord{User: user, Mechanism: m, Credential: c})
		}
	}
	for _, a := range s.ACLs() {
		recs = append(recs, aclRecord{ACL: a})
	}
	return append(recs, s.quotaRecords()...)
}

// scramCredentialRecord sets a user's credential for one mechanism.
type scramCredentialRecord struct {
	User       string
	Mechanism  ScramMechanism
	Credential ScramCredential
}

// removeScramCredentialRecord removes a user's credential for one mechanism.
type removeScramCredentialRecord struct {
	User      string
	Mechanism ScramMechanism
}

func (scramCredentialRecord) key() [2]byte       { return [2]byte{byte(typeScramCredential), 0} }
func (removeScramCredentialRecord) key() [2]byte { return [2]byte{byte(typeRemoveScramCredential), 0} }

func (r scramCredentialRecord) encode(e *encoder) {
	e.string(r.User)
	e.int8(int8(r.Mechanism))
	e.string(string(r.Credential.Salt))
	e.string(string(r.Credential.StoredKey))
	e.string(string(r.Credential.ServerKey))
	e.int32(r.Credential.Iterations)
}

func (r removeScramCredentialRecord) encode(e *encoder) {
	e.string(r.User)
	e.int8(int8(r.Mechanism))
}

func (r scramCredentialRecord) apply(b *imageBuilder) error {
	if r.Mechanism.Hash() == nil {
		return fmt.Errorf("scram credential of %q: %s", r.User, r.Mechanism.Name())
	}
	b.next.Security = b.next.Security.withScram(r.User, r.Mechanism, &r.Credential)
	return nil
}

func (r removeScramCredentialRecord) apply(b *imageBuilder) error {
	b.next.Security = b.next.Security.withScram(r.User, r.Mechanism, nil)
	return nil
}

// decodeSecurityRecord decodes the security record types (nil for another
// type).
func decodeSecurityRecord(typ recordType, d *decoder) record {
	switch typ {
	case typeScramCredential:
		r := scramCredentialRecord{User: d.string(), Mechanism: ScramMechanism(d.int8())}
		r.Credential.Salt = []byte(d.string())
		r.Credential.StoredKey = []byte(d.string())
		r.Credential.ServerKey = []byte(d.string())
		r.Credential.Iterations = d.int32()
		return r
	case typeRemoveScramCredential:
		return removeScramCredentialRecord{User: d.string(), Mechanism: ScramMechanism(d.int8())}
	case typeACL:
		return aclRecord{ACL: decodeACL(d)}
	case typeRemoveACL:
		return removeACLRecord{ACL: decodeACL(d)}
	case typeClientQuota:
		return decodeClientQuotaRecord(d)
	}
	return nil
}

// ScramChange is one upsertion or deletion of AlterUserScramCredentials.
type ScramChange struct {
	User           string
	Mechanism      ScramMechanism
	Delete         bool
	Iterations     int32
	Salt           []byte
	SaltedPassword []byte
}

// AlterScramCredentials applies changes as one metadata change: all or
// none. Deleting a credential that does not exist fails with
// kerr.ResourceNotFound, an unknown mechanism with
// kerr.UnsupportedSaslMechanism, bad iterations or an empty salt with
// kerr.UnacceptableCredential.
func (c *Controller) AlterScramCredentials(changes []ScramChange) error {
	p := &proposal{plan: func(im *Image) ([]record, error) { return alterScram(im, changes) }}
	_, err := c.run(p, func(ctx context.Context, r *raftRunner) (changeResult, error) {
		return r.forwarded(ctx, alterScramRequest(changes), alterScramResult)
	})
	return err
}

// alterScram plans changes.
func alterScram(im *Image, changes []ScramChange) ([]record, error) {
	var recs []record
	for _, ch := range changes {
		if ch.Mechanism.Hash() == nil {
			return nil, fmt.Errorf("%w: user %q: mechanism %d", kerr.UnsupportedSaslMechanism, ch.User, ch.Mechanism)
		}
		if ch.User == "" {
			return nil, fmt.Errorf("%w: empty user name", kerr.UnacceptableCredential)
		}
		if ch.Delete {
			if _, ok := im.Security.ScramCredential(ch.User, ch.Mechanism); !ok {
				return nil, fmt.Errorf("%w: user %q has no %s credential", kerr.ResourceNotFound, ch.User, ch.Mechanism.Name())
			}
			recs = append(recs, removeScramCredentialRecord{User: ch.User, Mechanism: ch.Mechanism})
			continue
		}
		if ch.Iterations < ScramIterationsMin || ch.Iterations > ScramIterationsMax {
			return nil, fmt.Errorf("%w: user %q: iterations %d not from %d to %d", kerr.UnacceptableCredential,
				ch.User, ch.Iterations, ScramIterationsMin, ScramIterationsMax)
		}
		if len(ch.Salt) == 0 || len(ch.SaltedPassword) == 0 {
			return nil, fmt.Errorf("%w: user %q: empty salt or salted password", kerr.UnacceptableCredential, ch.User)
		}
		recs = append(recs, scramCredentialRecord{User: ch.User, Mechanism: ch.Mechanism,
			Credential: NewScramCredential(ch.Mechanism, ch.Salt, ch.SaltedPassword, ch.Iterations)})
	}
	return recs, nil
}

// alterScramRequest is changes as the request forwarded to the active
// controller.
func alterScramRequest(changes []ScramChange) *kmsg.AlterUserSCRAMCredentialsRequest {
	r := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	for _, ch := range changes {
		if ch.Delete {
			d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
			d.Name, d.Mechanism = ch.User, int8(ch.Mechanism)
			r.Deletions = append(r.Deletions, d)
			continue
		}
		u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		u.Name, u.Mechanism, u.Iterations, u.Salt, u.SaltedPassword = ch.User, int8(ch.Mechanism), ch.Iterations, ch.Salt, ch.SaltedPassword
		r.Upsertions = append(r.Upsertions, u)
	}
	return r
}

func alterScramResult(resp kmsg.Response) error {
	for _, res := range resp.(*kmsg.AlterUserSCRAMCredentialsResponse).Results {
		if err := responseError(res.ErrorCode, res.ErrorMessage); err != nil {
			return err
		}
	}
	return nil
}

// serveAlterScram is the controller's side of a forwarded
// AlterUserScramCredentials: one change, its outcome in every result.
func serveAlterScram(req *kmsg.AlterUserSCRAMCredentialsRequest, r *kmsg.AlterUserSCRAMCredentialsResponse) servedChange {
	var changes []ScramChange
	users := map[string]bool{}
	for _, d := range req.Deletions {
		changes = append(changes, ScramChange{User: d.Name, Mechanism: ScramMechanism(d.Mechanism), Delete: true})
		users[d.Name] = true
	}
	for _, u := range req.Upsertions {
		changes = append(changes, ScramChange{User: u.Name, Mechanism: ScramMechanism(u.Mechanism),
			Iterations: u.Iterations, Salt: u.Salt, SaltedPassword: u.SaltedPassword})
		users[u.Name] = true
	}
	return servedChange{p: &proposal{plan: func(im *Image) ([]record, error) { return alterScram(im, changes) }},
		answer: func(_ changeResult, err error) {
			code, msg := errorCode(err)
			for _, user := range slices.Sorted(maps.Keys(users)) {
				res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
				res.User, res.ErrorCode, res.ErrorMessage = user, code, msg
				r.Results = append(r.Results, res)
			}
		}}
}

package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSASLKcat: kcat (librdkafka) over SASL_SSL produces with
// SCRAM-SHA-512 and consumes with PLAIN; a wrong password and an unknown
// user are refused.
func TestSASLKcat(t *testing.T) {
	s := startSASLBroker(t)
	sasl := func(mech, user, pass string) []string {
		return []string{"-b", s.saslSSL, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=" + mech,
			"-X", "sasl.username=" + user, "-X", "sasl.password=" + pass, "-X", "ssl.ca.location=" + s.ca.CAFile}
	}
	var in strings.Builder
	for i := range 50 {
		fmt.Fprintf(&in, "k%d:v%d\n", i, i)
	}
	run(t, in.String(), "kcat", append(sasl("SCRAM-SHA-512", "alice", "alice-secret"), "-P", "-t", "kcat-sasl", "-K", ":")...)
	out := run(t, "", "kcat", append(sasl("PLAIN", "alice", "alice-secret"), "-C", "-t", "kcat-sasl", "-o", "beginning", "-e", "-f", "%k=%s\n")...)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 50 || lines[49] != "k49=v49" {
		t.Fatalf("kcat consumed %d lines, last %q", len(lines), lines[len(lines)-1])
	}
	for _, bad := range [][3]string{{"SCRAM-SHA-512", "alice", "wrong"}, {"PLAIN", "mallory", "x"}} {
		cmd := exec.Command("kcat", append(sasl(bad[0], bad[1], bad[2]), "-L", "-m", "10")...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Authentication failed") {
			t.Errorf("kcat %s as %s/%s: %v\n%s", bad[0], bad[1], bad[2], err, out)
		}
	}
}

// TestSASLPythonConfluentKafka: confluent-kafka over SASL_SSL with
// SCRAM-SHA-512 and PLAIN; a wrong password is refused.
func TestSASLPythonConfluentKafka(t *testing.T) {
	s := startSASLBroker(t)
	for _, tc := range []struct{ mech, user, pass, want string }{
		{"SCRAM-SHA-512", "alice", "alice-secret", "ok"},
		{"PLAIN", "alice", "alice-secret", "ok"},
		{"SCRAM-SHA-512", "alice", "wrong", "denied"},
	} {
		out := run(t, "", "/usr/bin/python3", "testdata/confluent_sasl.py", s.saslSSL, "SASL_SSL", tc.mech, tc.user, tc.pass,
			s.ca.CAFile, "py-"+strings.ToLower(tc.mech))
		if strings.TrimSpace(out) != tc.want {
			t.Errorf("python %s %s/%s: %q, want %q", tc.mech, tc.user, tc.pass, out, tc.want)
		}
	}
}

// TestSASLKafkaJS: kafkajs with SCRAM-SHA-512 and SCRAM-SHA-256 over
// SASL_SSL; a wrong password is refused.
func TestSASLKafkaJS(t *testing.T) {
	s := startSASLBroker(t)
	modules, err := filepath.Abs("../tests/js/node_modules")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NODE_PATH", modules)
	for _, tc := range []struct{ mech, user, pass, want string }{
		{"scram-sha-512", "alice", "alice-secret", "ok"},
		{"scram-sha-256", "bob", "bob-secret", "ok"},
		{"scram-sha-512", "alice", "wrong", "denied"},
	} {
		out := run(t, "", "node", "testdata/kafkajs_sasl.js", s.saslSSL, tc.mech, tc.user, tc.pass, s.ca.CAFile, "js-"+tc.user)
		if strings.TrimSpace(out) != tc.want {
			t.Errorf("kafkajs %s %s/%s: %q, want %q", tc.mech, tc.user, tc.pass, out, tc.want)
		}
	}
}

// TestCLIUsers: `riffle user set|list|delete` over the PLAINTEXT
// listener, and the admin commands over SASL_SSL with --ca-file,
// --sasl-mechanism, --sasl-user and $RIFFLE_SASL_PASSWORD.
func TestCLIUsers(t *testing.T) {
	s := startSASLBroker(t)
	plainAddr := s.b.Addr()
	ok(t, plainAddr, "carol-pw\n", "user", "set", "carol", "--iterations", "4096")
	out := ok(t, plainAddr, "", "user", "list", "carol")
	if !strings.Contains(out, "carol  SCRAM-SHA-256  4096") || !strings.Contains(out, "carol  SCRAM-SHA-512  4096") {
		t.Fatalf("user list:\n%s", out)
	}
	secure := []string{"--ca-file", s.ca.CAFile, "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", "carol"}
	t.Setenv("RIFFLE_SASL_PASSWORD", "carol-pw")
	ok(t, s.saslSSL, "", append([]string{"topic", "create", "cli-secure"}, secure...)...)
	if out := ok(t, s.saslSSL, "", append(secure, "topic", "list")...); !strings.Contains(out, "cli-secure") {
		t.Fatalf("topic list over SASL_SSL:\n%s", out)
	}
	t.Setenv("RIFFLE_SASL_PASSWORD", "wrong")
	fails(t, s.saslSSL, 1, []string{"SASL_AUTHENTICATION_FAILED"}, append([]string{"topic", "list"}, secure...)...)

	ok(t, plainAddr, "", "user", "delete", "carol", "--mechanism", "SCRAM-SHA-256")
	out = ok(t, plainAddr, "", "user", "list", "--json")
	if strings.Contains(out, `"user": "carol",
    "mechanism": "SCRAM-SHA-256"`) || !strings.Contains(out, `"carol"`) {
		t.Fatalf("after deleting carol's SCRAM-SHA-256:\n%s", out)
	}
	ok(t, plainAddr, "", "user", "delete", "carol")
	fails(t, plainAddr, 1, []string{"carol", "RESOURCE_NOT_FOUND"}, "user", "list", "carol")
}

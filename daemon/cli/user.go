package cli

import (
	"bufio"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// `riffle user`: SCRAM users, through DescribeUserScramCredentials and
// AlterUserScramCredentials (the password is salted and hashed here; the
// broker stores the derived keys).

type userCredential struct {
	User       string `json:"user"`
	Mechanism  string `json:"mechanism"`
	Iterations int32  `json:"iterations"`
}

func userList(e *env, args []string) error {
	fs := e.flags("[USER...]", "List SCRAM users and their mechanisms (all users, or those named).")
	users, err := e.parse(fs, args, 0, -1, "")
	if err != nil {
		return err
	}
	adm, ctx, done, err := e.admin(kmsg.DescribeUserSCRAMCredentials)
	if err != nil {
		return err
	}
	defer done()
	res, err := adm.DescribeUserSCRAMs(ctx, users...)
	if err != nil {
		return fmt.Errorf("describe users: %w", err)
	}
	t := newTable("USER", "MECHANISM", "ITERATIONS")
	out := []userCredential{}
	failed := false
	for _, u := range res.Sorted() {
		if u.Err != nil {
			e.fail(u.User, u.Err)
			failed = true
			continue
		}
		for _, c := range u.CredInfos {
			t.add(u.User, c.Mechanism, c.Iterations)
			out = append(out, userCredential{User: u.User, Mechanism: c.Mechanism.String(), Iterations: c.Iterations})
		}
	}
	if err := e.print(t, out); err != nil {
		return err
	}
	if failed {
		return errReported
	}
	return nil
}

func scramMechanism(name string) (kadm.ScramMechanism, error) {
	switch name {
	case "SCRAM-SHA-256":
		return kadm.ScramSha256, nil
	case "SCRAM-SHA-512":
		return kadm.ScramSha512, nil
	}
	return 0, usageErrorf("--mechanism %q: want SCRAM-SHA-256 or SCRAM-SHA-512", name)
}

func userSet(e *env, args []string) error {
	fs := e.flags("USER", "Set USER's SCRAM credential (created or replaced) from the password on the\n"+
		"first line of standard input. PLAIN logins check the same credential.")
	mechs := fs.String("mechanism", "SCRAM-SHA-512,SCRAM-SHA-256", "comma-separated SCRAM `mechanisms` to set")
	iterations := fs.Int("iterations", 8192, "PBKDF2 `iterations` (4096 to 16384)")
	pos, err := e.parse(fs, args, 1, 1, "USER")
	if err != nil {
		return err
	}
	var upserts []kadm.UpsertSCRAM
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return usageErrorf("no password on standard input (%v)", err)
	}
	for _, name := range strings.Split(*mechs, ",") {
		m, err := scramMechanism(strings.TrimSpace(name))
		if err != nil {
			return err
		}
		upserts = append(upserts, kadm.UpsertSCRAM{User: pos[0], Mechanism: m, Iterations: int32(*iterations), Password: password})
	}
	return e.alterUsers(nil, upserts)
}

func userDelete(e *env, args []string) error {
	fs := e.flags("USER", "Delete USER's SCRAM credentials (every mechanism, or those named).")
	mechs := fs.String("mechanism", "", "comma-separated SCRAM `mechanisms` to delete (default: all the user has)")
	pos, err := e.parse(fs, args, 1, 1, "USER")
	if err != nil {
		return err
	}
	var deletions []kadm.DeleteSCRAM
	for _, name := range strings.Split(*mechs, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		m, err := scramMechanism(name)
		if err != nil {
			return err
		}
		deletions = append(deletions, kadm.DeleteSCRAM{User: pos[0], Mechanism: m})
	}
	if len(deletions) == 0 {
		adm, ctx, done, err := e.admin(kmsg.DescribeUserSCRAMCredentials)
		if err != nil {
			return err
		}
		res, err := adm.DescribeUserSCRAMs(ctx, pos[0])
		done()
		if err != nil {
			return fmt.Errorf("describe user %s: %w", pos[0], err)
		}
		if d := res[pos[0]]; d.Err != nil {
			return fmt.Errorf("user %s: %w", pos[0], d.Err)
		}
		for _, c := range res[pos[0]].CredInfos {
			deletions = append(deletions, kadm.DeleteSCRAM{User: pos[0], Mechanism: c.Mechanism})
		}
	}
	return e.alterUsers(deletions, nil)
}

func (e *env) alterUsers(deletions []kadm.DeleteSCRAM, upserts []kadm.UpsertSCRAM) error {
	adm, ctx, done, err := e.admin(kmsg.AlterUserSCRAMCredentials)
	if err != nil {
		return err
	}
	defer done()
	res, err := adm.AlterUserSCRAMs(ctx, deletions, upserts)
	if err != nil {
		return fmt.Errorf("alter users: %w", err)
	}
	failed := false
	names := slices.Sorted(maps.Keys(res))
	t := newTable("USER", "RESULT")
	for _, u := range names {
		if r := res[u]; r.Err != nil {
			e.fail(u, r.Err)
			failed = true
			continue
		}
		t.add(u, "ok")
	}
	if err := e.print(t, names); err != nil {
		return err
	}
	if failed {
		return errReported
	}
	return nil
}

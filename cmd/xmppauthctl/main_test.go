package main

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/internal/testenv"
	"github.com/xmppauth/xmppauth/scram"
	"github.com/xmppauth/xmppauth/sqlstore"
)

// fakeTTY answers password prompts with the given answers, in order.
type fakeTTY struct {
	answers []string
	prompts []string
}

func (f *fakeTTY) ReadPassword(prompt string) ([]byte, error) {
	f.prompts = append(f.prompts, prompt)
	if len(f.answers) == 0 {
		return nil, errors.New("no more input")
	}
	a := f.answers[0]
	f.answers = f.answers[1:]
	return []byte(a), nil
}

type result struct {
	code           int
	stdout, stderr string
}

// ctl runs the command in process. stdin feeds standard input when tty is
// nil; getenv is empty.
func ctl(t *testing.T, stdin string, tty *fakeTTY, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	e := env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	if tty != nil {
		e.tty = tty
	}
	code := run(t.Context(), args, e)
	return result{code, out.String(), errOut.String()}
}

func openStore(t *testing.T, source string) *sqlstore.Store {
	t.Helper()
	d, dsn, err := sqlstore.ParseSource(source)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlstore.Open(t.Context(), d, dsn, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// verifies reports whether password verifies against account's credential
// for every hash in hs, and that it has no others.
func verifies(t *testing.T, s *sqlstore.Store, account, password string, iterations int, hs ...crypto.Hash) bool {
	t.Helper()
	for _, h := range sqlstore.AllHashes {
		c, err := s.Credential(context.Background(), account, h)
		if !slices.Contains(hs, h) {
			if err == nil {
				return false
			}
			continue
		}
		if err != nil || c.Iterations != iterations || !scram.VerifyPassword(h, c, password) {
			return false
		}
	}
	return true
}

func TestUserCommands(t *testing.T) {
	for _, tc := range []struct {
		name   string
		source func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "accounts.db") }},
		{"postgres", func(t *testing.T) string {
			return testenv.StartPostgres(t, testenv.PostgresOptions{}).DSN("postgres")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := tc.source(t)
			// Passwords from standard input (not a terminal): the first
			// line, without its line ending.
			r := ctl(t, "alice-secret\r\nignored\n", nil, "-db", db, "user", "add", "Alice@Example.com")
			if r.code != exitOK || r.stdout != "added alice@example.com (SHA-1,SHA-256,SHA-512, 10000 iterations)\n" {
				t.Fatalf("add: %+v", r)
			}
			s := openStore(t, db)
			if !verifies(t, s, "alice@example.com", "alice-secret", 10000, sqlstore.AllHashes...) {
				t.Fatal("alice's credentials do not verify her password")
			}
			// Flags after the command words.
			r = ctl(t, "bob-secret", nil, "-db", db, "user", "add", "bob@example.com", "-iterations", "5000", "-hashes", "sha256,SHA-512")
			if r.code != exitOK || !verifies(t, s, "bob@example.com", "bob-secret", 5000, crypto.SHA256, crypto.SHA512) {
				t.Fatalf("add bob: %+v", r)
			}
			// On a terminal: asked twice.
			tty := &fakeTTY{answers: []string{"carol-secret", "carol-secret"}}
			r = ctl(t, "", tty, "-db", db, "user", "add", "carol@other.example")
			if r.code != exitOK || !verifies(t, s, "carol@other.example", "carol-secret", 10000, sqlstore.AllHashes...) {
				t.Fatalf("add carol: %+v", r)
			}
			if !slices.Equal(tty.prompts, []string{"Password for carol@other.example: ", "Repeat the password: "}) {
				t.Errorf("prompts %q", tty.prompts)
			}
			r = ctl(t, "", &fakeTTY{answers: []string{"one-secret", "two-secret"}}, "-db", db, "user", "add", "dave@example.com")
			if r.code != exitFailed || !strings.Contains(r.stderr, "do not match") {
				t.Errorf("mismatched passwords: %+v", r)
			}
			if _, err := s.Account(t.Context(), jid.MustParse("dave@example.com")); !errors.Is(err, sqlstore.ErrNoAccount) {
				t.Errorf("a refused add created dave: %v", err)
			}

			// Exists: refused before any password is read.
			tty = &fakeTTY{}
			r = ctl(t, "", tty, "-db", db, "user", "add", "alice@example.com")
			if r.code != exitAccount || !strings.Contains(r.stderr, "already exists") || len(tty.prompts) != 0 {
				t.Errorf("add of an existing account: %+v, prompts %q", r, tty.prompts)
			}

			r = ctl(t, "new-secret\n", nil, "-db", db, "user", "passwd", "alice@example.com", "-hashes", "SHA-256")
			if r.code != exitOK || r.stdout != "password set for alice@example.com (SHA-256, 10000 iterations)\n" ||
				!verifies(t, s, "alice@example.com", "new-secret", 10000, crypto.SHA256) {
				t.Fatalf("passwd: %+v", r)
			}
			r = ctl(t, "x-secret\n", nil, "-db", db, "user", "passwd", "mallory@example.com")
			if r.code != exitAccount || !strings.Contains(r.stderr, "no such account") {
				t.Errorf("passwd of a missing account: %+v", r)
			}

			for _, step := range []struct {
				verb, out string
				disabled  bool
			}{{"disable", "disabled alice@example.com\n", true}, {"enable", "enabled alice@example.com\n", false}} {
				r = ctl(t, "", nil, "-db", db, "user", step.verb, "alice@example.com")
				a, err := s.Account(t.Context(), jid.MustParse("alice@example.com"))
				if r.code != exitOK || r.stdout != step.out || err != nil || a.Disabled != step.disabled {
					t.Errorf("%s: %+v, account %+v (%v)", step.verb, r, a, err)
				}
			}
			if r = ctl(t, "", nil, "-db", db, "user", "disable", "bob@example.com"); r.code != exitOK {
				t.Fatalf("disable bob: %+v", r)
			}

			r = ctl(t, "", nil, "-db", db, "user", "list", "example.com")
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if r.code != exitOK || len(lines) != 3 {
				t.Fatalf("list: %+v", r)
			}
			for i, want := range [][]string{
				{"JID", "STATUS", "HASHES", "ITERATIONS", "CREATED"},
				{"alice@example.com", "enabled", "SHA-256", "10000"},
				{"bob@example.com", "disabled", "SHA-256,SHA-512", "5000"},
			} {
				if got := strings.Fields(lines[i]); len(got) != 5 || !slices.Equal(got[:len(want)], want) {
					t.Errorf("list line %d: %q, want %q", i, lines[i], want)
				}
			}
			if r = ctl(t, "", nil, "-db", db, "user", "list"); r.code != exitOK || strings.Count(r.stdout, "\n") != 4 {
				t.Errorf("list of every domain: %+v", r)
			}

			r = ctl(t, "", nil, "-db", db, "user", "delete", "bob@example.com")
			if r.code != exitOK || r.stdout != "deleted bob@example.com\n" {
				t.Errorf("delete: %+v", r)
			}
			for _, verb := range []string{"delete", "disable", "enable"} {
				if r = ctl(t, "", nil, "-db", db, "user", verb, "bob@example.com"); r.code != exitAccount {
					t.Errorf("%s of a deleted account: %+v", verb, r)
				}
			}
		})
	}
}

// Usage errors exit with 2 and say what is wrong; a bad password exits
// with 1. None of them touches the database.
func TestUsageErrors(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "accounts.db")
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"no command", "", []string{"-db", db}, exitUsage, "expected: user"},
		{"unknown command", "", []string{"-db", db, "user", "rename", "a@b"}, exitUsage, `unknown command "user rename"`},
		{"no JID", "", []string{"-db", db, "user", "add"}, exitUsage, "takes one JID"},
		{"two JIDs", "", []string{"-db", db, "user", "delete", "a@b", "c@d"}, exitUsage, "takes one JID"},
		{"domain only", "pw-secret\n", []string{"-db", db, "user", "add", "example.com"}, exitUsage, "not a bare JID with a localpart"},
		{"full JID", "pw-secret\n", []string{"-db", db, "user", "add", "a@example.com/res"}, exitUsage, "not a bare JID"},
		{"not a JID", "pw-secret\n", []string{"-db", db, "user", "add", "a@@b"}, exitUsage, "not a JID"},
		{"few iterations", "pw-secret\n", []string{"-db", db, "user", "add", "-iterations", "1000", "a@example.com"}, exitUsage, "below 4096"},
		{"bad hash", "pw-secret\n", []string{"-db", db, "user", "add", "-hashes", "MD5", "a@example.com"}, exitUsage, `unknown hash "MD5"`},
		{"iterations on list", "", []string{"-db", db, "user", "list", "-iterations", "5000"}, exitUsage, "apply to user add and user passwd"},
		{"unknown flag", "", []string{"-db", db, "-password", "x", "user", "add", "a@example.com"}, exitUsage, "-password"},
		{"no database", "", []string{"user", "list"}, exitUsage, "no database"},
		{"unknown database", "", []string{"-db", "mysql:x", "user", "list"}, exitUsage, "unknown database kind"},
		{"empty password", "\n", []string{"-db", db, "user", "add", "a@example.com"}, exitFailed, "empty password"},
		{"no input", "", []string{"-db", db, "user", "add", "a@example.com"}, exitFailed, "empty password"},
		{"long password", strings.Repeat("x", 256) + "\n", []string{"-db", db, "user", "add", "a@example.com"}, exitFailed, "longer than 255 bytes"},
		{"endless line", strings.Repeat("x", 5000), []string{"-db", db, "user", "add", "a@example.com"}, exitFailed, "no newline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ctl(t, tc.stdin, nil, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tc.code, tc.want)
			}
			if tc.code == exitUsage && !strings.Contains(r.stderr, "usage: xmppauthctl") {
				t.Errorf("no usage text: %q", r.stderr)
			}
		})
	}
	s := openStore(t, db)
	if accounts, err := s.List(t.Context(), ""); err != nil || len(accounts) != 0 {
		t.Errorf("the refused commands left accounts %v (%v)", accounts, err)
	}
}

// The data source may come from $XMPPAUTH_DB (keeping a DSN's password out
// of the process list); an unreachable database exits with 1.
func TestDatabaseSource(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "accounts.db")
	var out, errOut bytes.Buffer
	e := env{stdin: strings.NewReader("pw-secret\n"), stdout: &out, stderr: &errOut,
		getenv: func(k string) string {
			if k == "XMPPAUTH_DB" {
				return db
			}
			return ""
		}}
	if code := run(t.Context(), []string{"user", "add", "a@example.com"}, e); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !verifies(t, openStore(t, db), "a@example.com", "pw-secret", 10000, sqlstore.AllHashes...) {
		t.Error("the account from $XMPPAUTH_DB does not verify")
	}
	r := ctl(t, "", nil, "-db", "postgres://nobody:secret-pw@127.0.0.1:1/x?sslmode=disable&connect_timeout=5", "user", "list")
	if r.code != exitFailed {
		t.Errorf("unreachable database: %+v", r)
	}
	if strings.Contains(r.stderr, "secret-pw") {
		t.Errorf("the DSN's password was printed: %q", r.stderr)
	}
}

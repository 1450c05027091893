package sqlstore

import (
	"crypto"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/internal/xmpptest"
	"github.com/xmppauth/xmppauth/scram"
)

const testIterations = scram.MinIterations

// checkPassword asserts that account's credential for every hash of want
// verifies password, and that there is none for the other hashes.
func checkPassword(t *testing.T, s *Store, account, password string, want ...crypto.Hash) {
	t.Helper()
	for _, h := range AllHashes {
		c, err := s.Credential(t.Context(), account, h)
		if !slices.Contains(want, h) {
			if !errors.Is(err, scram.ErrUnknownUser) {
				t.Errorf("%s %v: got a credential (%v), want none", account, h, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %v: %v", account, h, err)
			continue
		}
		if !scram.VerifyPassword(h, c, password) {
			t.Errorf("%s %v: the credential does not verify %q", account, h, password)
		}
		if scram.VerifyPassword(h, c, password+"x") {
			t.Errorf("%s %v: the credential verifies a wrong password", account, h)
		}
	}
}

func TestAccounts(t *testing.T) {
	forEachDialect(t, func(t *testing.T, b backend) {
		clock := config.NewManualClock(time.Date(2026, 12, 1, 12, 0, 0, 123456000, time.UTC))
		s := b.open(t, Options{Clock: clock})
		ctx := t.Context()
		alice := mustJID(t, "alice@example.com")
		created := clock.Now()
		if err := s.AddAccount(ctx, alice, "alice-secret", testIterations); err != nil {
			t.Fatal(err)
		}
		checkPassword(t, s, "alice@example.com", "alice-secret", AllHashes...)
		if err := s.AddAccount(ctx, alice, "other", testIterations); !errors.Is(err, ErrAccountExists) {
			t.Fatalf("adding alice twice: %v", err)
		}
		checkPassword(t, s, "alice@example.com", "alice-secret", AllHashes...)

		clock.Advance(time.Minute)
		bob := mustJID(t, "bob@example.com")
		if err := s.AddAccount(ctx, bob, "bob-secret", 5000, crypto.SHA256); err != nil {
			t.Fatal(err)
		}
		carol := mustJID(t, "carol@other.example")
		if err := s.AddAccount(ctx, carol, "carol-secret", testIterations, crypto.SHA1); err != nil {
			t.Fatal(err)
		}
		checkPassword(t, s, "bob@example.com", "bob-secret", crypto.SHA256)

		a, err := s.Account(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		want := Account{JID: alice, Hashes: AllHashes, Iterations: testIterations, Created: created, Updated: created}
		if !accountEqual(a, want) {
			t.Errorf("Account(alice) = %+v, want %+v", a, want)
		}

		list, err := s.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := jids(list); !slices.Equal(got, []string{"alice@example.com", "bob@example.com", "carol@other.example"}) {
			t.Errorf("List(\"\") = %v", got)
		}
		for _, tc := range []struct {
			domain string
			want   []string
		}{
			{"example.com", []string{"alice@example.com", "bob@example.com"}},
			{"EXAMPLE.com", []string{"alice@example.com", "bob@example.com"}},
			{"other.example", []string{"carol@other.example"}},
			{"nobody.example", nil},
		} {
			list, err := s.List(ctx, tc.domain)
			if err != nil {
				t.Fatal(err)
			}
			if got := jids(list); !slices.Equal(got, tc.want) {
				t.Errorf("List(%q) = %v, want %v", tc.domain, got, tc.want)
			}
		}
		if _, err := s.List(ctx, "alice@example.com"); err == nil {
			t.Error("List of a JID that is no domain worked")
		}
		list, _ = s.List(ctx, "example.com")
		if len(list) == 2 && (list[1].Iterations != 5000 || !slices.Equal(list[1].Hashes, []crypto.Hash{crypto.SHA256})) {
			t.Errorf("bob listed as %+v", list[1])
		}

		// A new password replaces every credential; hashes left out lose
		// theirs, so the old password opens nothing.
		changed := clock.Advance(time.Hour)
		if err := s.SetPassword(ctx, alice, "new-secret", 5000, crypto.SHA256, crypto.SHA512); err != nil {
			t.Fatal(err)
		}
		checkPassword(t, s, "alice@example.com", "new-secret", crypto.SHA256, crypto.SHA512)
		a, _ = s.Account(ctx, alice)
		want = Account{JID: alice, Hashes: []crypto.Hash{crypto.SHA256, crypto.SHA512}, Iterations: 5000, Created: created, Updated: changed}
		if !accountEqual(a, want) {
			t.Errorf("after SetPassword: %+v, want %+v", a, want)
		}

		// Disabled: the credential is still returned (verification comes
		// first), the status refuses.
		conn := fakeConn{domain: mustJID(t, "example.com")}
		if err := s.AccountStatus(ctx, conn, alice); err != nil {
			t.Fatalf("status of an enabled account: %v", err)
		}
		disabledAt := clock.Advance(time.Hour)
		if err := s.Disable(ctx, alice); err != nil {
			t.Fatal(err)
		}
		checkPassword(t, s, "alice@example.com", "new-secret", crypto.SHA256, crypto.SHA512)
		if err := s.AccountStatus(ctx, conn, alice.Bare()); !errors.Is(err, features.ErrAccountDisabled) {
			t.Fatalf("status of a disabled account: %v", err)
		}
		full, _ := alice.WithResource("laptop")
		if err := s.AccountStatus(ctx, conn, full); !errors.Is(err, features.ErrAccountDisabled) {
			t.Fatalf("status of a disabled account's full JID: %v", err)
		}
		if a, _ := s.Account(ctx, alice); !a.Disabled || !a.Updated.Equal(disabledAt) {
			t.Errorf("after Disable: %+v", a)
		}
		if err := s.Enable(ctx, alice); err != nil {
			t.Fatal(err)
		}
		if err := s.AccountStatus(ctx, conn, alice); err != nil {
			t.Fatalf("status after Enable: %v", err)
		}

		if err := s.Delete(ctx, alice); err != nil {
			t.Fatal(err)
		}
		checkPassword(t, s, "alice@example.com", "new-secret")
		if _, err := s.Account(ctx, alice); !errors.Is(err, ErrNoAccount) {
			t.Errorf("Account after Delete: %v", err)
		}
		if err := s.AccountStatus(ctx, conn, alice); !errors.Is(err, ErrNoAccount) || !errors.Is(err, features.ErrNotAuthorized) {
			t.Errorf("status after Delete: %v", err)
		}
		// The cascade left no orphan credential behind.
		var orphans int
		if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM credentials WHERE account = $1`, "alice@example.com").Scan(&orphans); err != nil || orphans != 0 {
			t.Errorf("%d credentials left after Delete (%v)", orphans, err)
		}
		// Adding it again starts afresh.
		if err := s.AddAccount(ctx, alice, "third", 0, crypto.SHA1); err != nil {
			t.Fatal(err)
		}
		if a, _ := s.Account(ctx, alice); a.Iterations != DefaultIterations || a.Disabled {
			t.Errorf("re-added alice: %+v", a)
		}

		// Every management method on a missing account.
		mallory := mustJID(t, "mallory@example.com")
		for name, err := range map[string]error{
			"SetPassword": s.SetPassword(ctx, mallory, "x-secret", testIterations),
			"Disable":     s.Disable(ctx, mallory),
			"Enable":      s.Enable(ctx, mallory),
			"Delete":      s.Delete(ctx, mallory),
		} {
			if !errors.Is(err, ErrNoAccount) {
				t.Errorf("%s of a missing account: %v", name, err)
			}
		}
		if _, err := s.Account(ctx, mallory); !errors.Is(err, ErrNoAccount) {
			t.Errorf("Account of a missing account: %v", err)
		}
	})
}

func accountEqual(a, b Account) bool {
	return a.JID.Equal(b.JID) && a.Disabled == b.Disabled && slices.Equal(a.Hashes, b.Hashes) &&
		a.Iterations == b.Iterations && a.Created.Equal(b.Created) && a.Updated.Equal(b.Updated)
}

func jids(list []Account) []string {
	var out []string
	for _, a := range list {
		out = append(out, a.JID.String())
	}
	return out
}

// Names that are not canonical bare JIDs are no account: unknown to
// Credential, refused by the rest.
func TestInvalidAccounts(t *testing.T) {
	forEachDialect(t, func(t *testing.T, b backend) {
		s := b.open(t, Options{})
		ctx := t.Context()
		if err := s.AddAccount(ctx, mustJID(t, "alice@example.com"), "alice-secret", testIterations); err != nil {
			t.Fatal(err)
		}
		c, err := s.Credential(ctx, "alice@example.com", crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{
			"", "example.com", "Alice@example.com", "alice@EXAMPLE.com", "alice@example.com/laptop",
			"alice@example.com.", "alice", "@example.com", "al ice@example.com", "alice@example.com\x00",
		} {
			if _, err := s.Credential(ctx, name, crypto.SHA256); !errors.Is(err, scram.ErrUnknownUser) || !errors.Is(err, ErrInvalidJID) {
				t.Errorf("Credential(%q): %v", name, err)
			}
			if err := s.SetCredential(ctx, name, crypto.SHA256, c); !errors.Is(err, ErrInvalidJID) {
				t.Errorf("SetCredential(%q): %v", name, err)
			}
		}
		domain := mustJID(t, "example.com")
		full := mustJID(t, "alice@example.com/laptop")
		for name, j := range map[string]jid.JID{"zero": {}, "domain": domain, "full": full} {
			for op, err := range map[string]error{
				"AddAccount":  s.AddAccount(ctx, j, "x-secret", testIterations),
				"SetPassword": s.SetPassword(ctx, j, "x-secret", testIterations),
				"Disable":     s.Disable(ctx, j),
				"Enable":      s.Enable(ctx, j),
				"Delete":      s.Delete(ctx, j),
			} {
				if !errors.Is(err, ErrInvalidJID) {
					t.Errorf("%s of a %s JID: %v", op, name, err)
				}
			}
			if _, err := s.Account(ctx, j); !errors.Is(err, ErrInvalidJID) {
				t.Errorf("Account of a %s JID: %v", name, err)
			}
		}
		bob := mustJID(t, "bob@example.com")
		for name, err := range map[string]error{
			"too few iterations": s.AddAccount(ctx, bob, "bob-secret", 1000),
			"unsupported hash":   s.AddAccount(ctx, bob, "bob-secret", testIterations, crypto.MD5),
			"empty password":     s.AddAccount(ctx, bob, "", testIterations),
		} {
			if err == nil {
				t.Errorf("AddAccount with %s worked", name)
			}
		}
		if _, err := s.Account(ctx, bob); !errors.Is(err, ErrNoAccount) {
			t.Errorf("a refused AddAccount left an account: %v", err)
		}
		if _, err := s.Credential(ctx, "alice@example.com", crypto.MD5); !errors.Is(err, scram.ErrUnknownUser) {
			t.Errorf("Credential for MD5: %v", err)
		}
	})
}

// SetCredential only upgrades: a missing hash, or more iterations.
func TestSetCredential(t *testing.T) {
	forEachDialect(t, func(t *testing.T, b backend) {
		clock := config.NewManualClock(time.Date(2026, 12, 1, 12, 0, 0, 123456000, time.UTC))
		s := b.open(t, Options{Clock: clock})
		ctx := t.Context()
		carol := mustJID(t, "carol@example.com")
		if err := s.AddAccount(ctx, carol, "carol-secret", testIterations, crypto.SHA1); err != nil {
			t.Fatal(err)
		}
		cred := func(h crypto.Hash, iterations int) scram.Credential {
			c, err := scram.NewCredential(h, "carol-secret", nil, iterations)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		upgraded := clock.Advance(time.Minute)
		for _, tc := range []struct {
			name       string
			h          crypto.Hash
			iterations int
			want       error
		}{
			{"missing hash", crypto.SHA256, testIterations, nil},
			{"more iterations", crypto.SHA1, 8192, nil},
			{"as many iterations", crypto.SHA1, 8192, ErrNotUpgrade},
			{"fewer iterations", crypto.SHA1, testIterations, ErrNotUpgrade},
			{"another missing hash", crypto.SHA512, 8192, nil},
		} {
			c := cred(tc.h, tc.iterations)
			before, _ := s.Credential(ctx, "carol@example.com", tc.h)
			err := s.SetCredential(ctx, "carol@example.com", tc.h, c)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
			}
			got, err := s.Credential(ctx, "carol@example.com", tc.h)
			if err != nil {
				t.Fatal(err)
			}
			stored := before
			if tc.want == nil {
				stored = c
			}
			if !credentialEqual(got, stored) {
				t.Errorf("%s: stored %+v, want %+v", tc.name, got, stored)
			}
		}
		a, _ := s.Account(ctx, carol)
		if !slices.Equal(a.Hashes, AllHashes) || a.Iterations != testIterations || !a.Updated.Equal(upgraded) {
			t.Errorf("after the upgrades: %+v", a)
		}
		if err := s.SetCredential(ctx, "dave@example.com", crypto.SHA256, cred(crypto.SHA256, 8192)); !errors.Is(err, ErrNoAccount) {
			t.Errorf("SetCredential of a missing account: %v", err)
		}
		if _, err := s.Account(ctx, mustJID(t, "dave@example.com")); !errors.Is(err, ErrNoAccount) {
			t.Errorf("SetCredential created an account: %v", err)
		}
		good := cred(crypto.SHA256, 20000)
		for name, c := range map[string]scram.Credential{
			"no salt":          {Iterations: 20000, StoredKey: good.StoredKey, ServerKey: good.ServerKey},
			"short stored key": {Salt: good.Salt, Iterations: 20000, StoredKey: good.StoredKey[:8], ServerKey: good.ServerKey},
			"short server key": {Salt: good.Salt, Iterations: 20000, StoredKey: good.StoredKey, ServerKey: nil},
			"1000 iterations":  {Salt: good.Salt, Iterations: 1000, StoredKey: good.StoredKey, ServerKey: good.ServerKey},
		} {
			if err := s.SetCredential(ctx, "carol@example.com", crypto.SHA256, c); err == nil {
				t.Errorf("SetCredential with %s worked", name)
			}
		}
		if err := s.SetCredential(ctx, "carol@example.com", crypto.MD5, good); err == nil {
			t.Error("SetCredential for MD5 worked")
		}
	})
}

func credentialEqual(a, b scram.Credential) bool {
	return a.Iterations == b.Iterations && string(a.Salt) == string(b.Salt) &&
		string(a.StoredKey) == string(b.StoredKey) && string(a.ServerKey) == string(b.ServerKey)
}

// A credential whose keys do not fit its hash is a store error (the login
// fails closed), not an unknown user.
func TestCorruptCredential(t *testing.T) {
	forEachDialect(t, func(t *testing.T, b backend) {
		var log xmpptest.LogBuffer
		s := b.open(t, Options{Logger: log.Logger(slog.LevelDebug)})
		ctx := t.Context()
		if err := s.AddAccount(ctx, mustJID(t, "alice@example.com"), "alice-secret", testIterations, crypto.SHA256); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB().ExecContext(ctx, `UPDATE credentials SET stored_key = $1 WHERE account = $2`, []byte("short"), "alice@example.com"); err != nil {
			t.Fatal(err)
		}
		_, err := s.Credential(ctx, "alice@example.com", crypto.SHA256)
		if err == nil || errors.Is(err, scram.ErrUnknownUser) {
			t.Fatalf("corrupt credential: %v", err)
		}
		if !strings.Contains(log.String(), "corrupt SHA-256 credential of alice@example.com") {
			t.Errorf("nothing logged: %q", log.String())
		}
	})
}

func TestMapCertificate(t *testing.T) {
	forEachDialect(t, func(t *testing.T, b backend) {
		s := b.open(t, Options{})
		ctx := t.Context()
		for _, a := range []string{"alice@example.com", "carol@example.com", "erin@example.com", "bob@other.example"} {
			if err := s.AddAccount(ctx, mustJID(t, a), "secret", testIterations, crypto.SHA256); err != nil {
				t.Fatal(err)
			}
		}
		for _, a := range []string{"carol@example.com", "erin@example.com"} {
			if err := s.Disable(ctx, mustJID(t, a)); err != nil {
				t.Fatal(err)
			}
		}
		p := getPKI()
		conn := fakeConn{domain: mustJID(t, "example.com")}
		for _, tc := range []struct {
			name  string
			addrs []string
			want  []string
		}{
			{"one enabled", []string{"alice@example.com"}, []string{"alice@example.com"}},
			{"enabled first", []string{"carol@example.com", "alice@example.com"}, []string{"alice@example.com"}},
			{"only disabled", []string{"carol@example.com", "erin@example.com"}, []string{"carol@example.com", "erin@example.com"}},
			{"unknown", []string{"dave@example.com"}, nil},
			{"other domain", []string{"bob@other.example"}, nil},
			{"not bare, no localpart, not a JID, not canonical, duplicate", []string{
				"alice@example.com/laptop", "example.com", "@@", "Alice@Example.com", "alice@example.com",
			}, []string{"alice@example.com"}},
			{"none", nil, nil},
		} {
			cert := p.Client(tc.addrs...)
			got, err := s.MapCertificate(ctx, conn, cert.Leaf)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			var names []string
			for _, j := range got {
				names = append(names, j.String())
			}
			if !slices.Equal(names, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, names, tc.want)
			}
		}
	})
}

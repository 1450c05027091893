package features_test

import (
	"context"
	"crypto"
	"crypto/tls"
	"testing"

	"mellium.im/sasl"
	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/scram"
)

// A PLAIN login brings the account's stored credentials up to the
// configuration: a credential for every enabled SCRAM hash, at the
// configured iteration count, which SCRAM then uses.
func TestPLAINUpgradesCredentials(t *testing.T) {
	store := scram.NewMemoryStore()
	if err := store.SetPassword("carol@localhost", "carol-secret", scram.MinIterations, crypto.SHA1); err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t, features.Config{Store: store, Iterations: 8192})
	ctx := t.Context()
	if _, err := store.Credential(ctx, "carol@localhost", crypto.SHA256); err == nil {
		t.Fatal("SHA-256 credential before the upgrade")
	}
	if cond, _ := plainLogin(t, srv, "localhost", "", "carol", "carol-secret"); cond != "" {
		t.Fatalf("PLAIN login: %s", cond)
	}
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA512} {
		c, err := store.Credential(ctx, "carol@localhost", h)
		if err != nil || c.Iterations != 8192 {
			t.Errorf("%v after the upgrade: %d iterations, %v", h, c.Iterations, err)
		}
	}
	// The upgraded credential works for SCRAM.
	session, err := melliumLogin(t, srv.addr, tls.VersionTLS13, "carol", "carol-secret", sasl.ScramSha256)
	if err != nil {
		t.Fatalf("SCRAM-SHA-256 after the upgrade: %v", err)
	}
	session.Close()
	// A wrong password upgrades nothing.
	before, _ := store.Credential(ctx, "carol@localhost", crypto.SHA512)
	plainLogin(t, srv, "localhost", "", "carol", "wrong")
	after, _ := store.Credential(ctx, "carol@localhost", crypto.SHA512)
	if string(before.StoredKey) != string(after.StoredKey) {
		t.Error("a failed login changed the credential")
	}
}

// A disabled account's credentials are not rewritten by a PLAIN login with
// its right password: the upgrade waits for the account checks.
func TestPLAINUpgradeWaitsForAccountStatus(t *testing.T) {
	store := scram.NewMemoryStore()
	if err := store.SetPassword("carol@localhost", "carol-secret", scram.MinIterations, crypto.SHA1); err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t, features.Config{Store: store, Iterations: 8192,
		AccountStatus: func(context.Context, features.ConnMetadata, jid.JID) error { return features.ErrAccountDisabled }})
	if cond, _ := plainLogin(t, srv, "localhost", "", "carol", "carol-secret"); cond != "account-disabled" {
		t.Fatalf("PLAIN login of a disabled account: %q", cond)
	}
	if c, err := store.Credential(t.Context(), "carol@localhost", crypto.SHA1); err != nil || c.Iterations != scram.MinIterations {
		t.Errorf("SHA-1 credential: %d iterations, %v; want it untouched", c.Iterations, err)
	}
	if _, err := store.Credential(t.Context(), "carol@localhost", crypto.SHA256); err == nil {
		t.Error("a SHA-256 credential was added for a disabled account")
	}
}

package scram_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"sync"
	"testing"

	"github.com/xmppauth/xmppauth/scram"
)

func TestMechanisms(t *testing.T) {
	want := []struct {
		m    scram.Mechanism
		name string
		hash crypto.Hash
		plus bool
	}{
		{scram.SHA512Plus, "SCRAM-SHA-512-PLUS", crypto.SHA512, true},
		{scram.SHA512, "SCRAM-SHA-512", crypto.SHA512, false},
		{scram.SHA256Plus, "SCRAM-SHA-256-PLUS", crypto.SHA256, true},
		{scram.SHA256, "SCRAM-SHA-256", crypto.SHA256, false},
		{scram.SHA1Plus, "SCRAM-SHA-1-PLUS", crypto.SHA1, true},
		{scram.SHA1, "SCRAM-SHA-1", crypto.SHA1, false},
	}
	got := scram.Mechanisms()
	if len(got) != len(want) {
		t.Fatalf("Mechanisms() = %v", got)
	}
	got[0] = scram.SHA1 // the caller's copy: must not change the package's list
	for i, w := range want {
		if m := scram.Mechanisms()[i]; m != w.m {
			t.Errorf("Mechanisms()[%d] = %v, want %v", i, m, w.m)
		}
		if w.m.Name() != w.name || w.m.Hash() != w.hash || w.m.Plus() != w.plus || w.m.String() != w.name {
			t.Errorf("%v: name/hash/plus = %q/%v/%v", w.m, w.m.Name(), w.m.Hash(), w.m.Plus())
		}
		if m, ok := scram.MechanismByName(w.name); !ok || m != w.m {
			t.Errorf("MechanismByName(%q) = %v, %v", w.name, m, ok)
		}
	}
	for _, name := range []string{"", "scram-sha-1", "SCRAM-SHA-1 ", "SCRAM-SHA-256-PLUS:tls-exporter", "SCRAM-MD5", "SCRAM-SHA-384", "PLAIN"} {
		if m, ok := scram.MechanismByName(name); ok {
			t.Errorf("MechanismByName(%q) = %v", name, m)
		}
	}
}

func TestNewServerConfig(t *testing.T) {
	store := scram.NewMemoryStore()
	tests := []struct {
		name string
		m    scram.Mechanism
		cfg  scram.Config
		ok   bool
	}{
		{"minimal", scram.SHA256, scram.Config{Store: store}, true},
		{"zero mechanism", scram.Mechanism{}, scram.Config{Store: store}, false},
		{"no store (StartWith)", scram.SHA256, scram.Config{}, true},
		{"short secret", scram.SHA256, scram.Config{Store: store, Secret: []byte("short")}, false},
		{"empty secret", scram.SHA256, scram.Config{Store: store, Secret: []byte{}}, false},
		{"negative fake iterations", scram.SHA256, scram.Config{Store: store, FakeIterations: -1}, false},
		{"huge fake iterations", scram.SHA256, scram.Config{Store: store, FakeIterations: 1 << 30}, false},
		{"fake iterations", scram.SHA256, scram.Config{Store: store, FakeIterations: 8192}, true},
		{"fake salt length", scram.SHA256, scram.Config{Store: store, FakeSaltLen: 32}, true},
		{"negative fake salt length", scram.SHA256, scram.Config{Store: store, FakeSaltLen: -1}, false},
		{"long fake salt", scram.SHA256, scram.Config{Store: store, FakeSaltLen: scram.MaxFakeSaltLen + 1}, false},
	}
	for _, tc := range tests {
		srv, err := scram.NewServer(tc.m, tc.cfg)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
		}
		if err == nil && srv.Mechanism() != tc.m {
			t.Errorf("%s: Mechanism() = %v", tc.name, srv.Mechanism())
		}
	}
}

func TestNewCredential(t *testing.T) {
	tests := []struct {
		name       string
		h          crypto.Hash
		password   string
		salt       []byte
		iterations int
		ok         bool
	}{
		{"SHA-1", crypto.SHA1, "pencil", nil, 4096, true},
		{"SHA-256", crypto.SHA256, "pencil", nil, 4096, true},
		{"SHA-512", crypto.SHA512, "pencil", []byte("salt"), 5000, true},
		{"too few iterations", crypto.SHA256, "pencil", nil, 4095, false},
		{"zero iterations", crypto.SHA256, "pencil", nil, 0, false},
		{"too many iterations", crypto.SHA256, "pencil", nil, 1 << 30, false},
		{"MD5", crypto.MD5, "pencil", nil, 4096, false},
		{"SHA-384", crypto.SHA384, "pencil", nil, 4096, false},
		{"empty salt", crypto.SHA256, "pencil", []byte{}, 4096, false},
		{"empty password", crypto.SHA256, "", nil, 4096, false},
		{"control character", crypto.SHA256, "pen\x00cil", nil, 4096, false},
	}
	for _, tc := range tests {
		c, err := scram.NewCredential(tc.h, tc.password, tc.salt, tc.iterations)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
			continue
		}
		if !tc.ok {
			continue
		}
		if c.Iterations != tc.iterations || len(c.StoredKey) != tc.h.Size() || len(c.ServerKey) != tc.h.Size() {
			t.Errorf("%s: %+v", tc.name, c)
		}
		if tc.salt == nil && len(c.Salt) != scram.DefaultSaltLen {
			t.Errorf("%s: salt length %d", tc.name, len(c.Salt))
		}
	}
	a, _ := scram.NewCredential(crypto.SHA256, "pencil", nil, 4096)
	b, _ := scram.NewCredential(crypto.SHA256, "pencil", nil, 4096)
	if bytes.Equal(a.Salt, b.Salt) || bytes.Equal(a.StoredKey, b.StoredKey) {
		t.Error("random salts repeat")
	}
	// The salt passed in is copied.
	salt := []byte("salty")
	c, _ := scram.NewCredential(crypto.SHA256, "pencil", salt, 4096)
	salt[0] = 'X'
	if string(c.Salt) != "salty" {
		t.Error("NewCredential kept the caller's salt slice")
	}
}

// PRECIS OpaqueString: non-ASCII spaces become U+0020 and NFC applies, on
// both derivation and verification.
func TestPasswordPreparation(t *testing.T) {
	c, err := scram.NewCredential(crypto.SHA256, "pen cil\u00e9", []byte("salt"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		password string
		ok       bool
	}{
		{"pen cil\u00e9", true},
		{"pen\u00a0cil\u00e9", true}, // NO-BREAK SPACE → SPACE
		{"pen\u3000cil\u00e9", true}, // IDEOGRAPHIC SPACE → SPACE
		{"pen cile\u0301", true},     // NFC composes e + COMBINING ACUTE
		{"pen  cil\u00e9", false},    // spaces are not collapsed
		{"Pen cil\u00e9", false},     // no case mapping
		{"", false},
	} {
		if got := scram.VerifyPassword(crypto.SHA256, c, tc.password); got != tc.ok {
			t.Errorf("VerifyPassword(%q) = %v", tc.password, got)
		}
	}
	// Malformed credentials never verify.
	for _, bad := range []scram.Credential{
		{},
		{Salt: c.Salt, Iterations: 0, StoredKey: c.StoredKey, ServerKey: c.ServerKey},
		{Salt: c.Salt, Iterations: 4096, StoredKey: c.StoredKey[:5], ServerKey: c.ServerKey},
		{Iterations: 4096, StoredKey: c.StoredKey, ServerKey: c.ServerKey},
	} {
		if scram.VerifyPassword(crypto.SHA256, bad, "pen cil\u00e9") {
			t.Errorf("VerifyPassword accepted %+v", bad)
		}
	}
	if scram.VerifyPassword(crypto.SHA1, c, "pen cil\u00e9") {
		t.Error("VerifyPassword accepted a credential of another hash")
	}
}

func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	s := scram.NewMemoryStore()
	if _, err := s.Credential(ctx, "user", crypto.SHA256); !errors.Is(err, scram.ErrUnknownUser) {
		t.Fatalf("empty store: %v", err)
	}
	if err := s.SetPassword("user", "pencil", 4096); err != nil {
		t.Fatal(err)
	}
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA512} {
		c, err := s.Credential(ctx, "user", h)
		if err != nil || !scram.VerifyPassword(h, c, "pencil") {
			t.Errorf("%v: %v", h, err)
		}
	}
	if _, err := s.Credential(ctx, "User", crypto.SHA256); !errors.Is(err, scram.ErrUnknownUser) {
		t.Error("names are not compared byte for byte")
	}
	if err := s.SetPassword("other", "pencil", 100, crypto.SHA256); err == nil {
		t.Error("SetPassword accepted 100 iterations")
	}
	if _, err := s.Credential(ctx, "other", crypto.SHA256); !errors.Is(err, scram.ErrUnknownUser) {
		t.Error("failed SetPassword stored something")
	}
	c, _ := scram.NewCredential(crypto.SHA256, "x", nil, 4096)
	s.Set("set", crypto.SHA256, c)
	c.StoredKey[0] ^= 1
	got, err := s.Credential(ctx, "set", crypto.SHA256)
	if err != nil || !scram.VerifyPassword(crypto.SHA256, got, "x") {
		t.Error("Set did not copy the credential")
	}
	if _, err := s.Credential(ctx, "set", crypto.SHA1); !errors.Is(err, scram.ErrUnknownUser) {
		t.Error("credential of another hash returned")
	}
	s.Delete("user")
	if _, err := s.Credential(ctx, "user", crypto.SHA1); !errors.Is(err, scram.ErrUnknownUser) {
		t.Error("Delete left a credential")
	}
	if _, err := s.Credential(ctx, "set", crypto.SHA256); err != nil {
		t.Error("Delete removed another user")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Credential(cancelled, "set", crypto.SHA256); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

// Concurrent exchanges on one Server and concurrent writes to the store (run
// with -race).
func TestConcurrentUse(t *testing.T) {
	store := scram.NewMemoryStore()
	if err := store.SetPassword("user", "pencil", 4096, crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, scram.SHA256, scram.Config{Store: store})
	c := testClient{mech: scram.SHA256, password: "pencil", gs2: "n,,", bare: "n=user,r=abc"}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ex := srv.Start(scram.ChannelBinding{}, nil)
			sf, _, err := ex.Step(context.Background(), []byte(c.first()))
			if err != nil {
				errs <- err
				return
			}
			cf, _ := c.final(t, string(sf))
			if _, _, err := ex.Step(context.Background(), []byte(cf)); err != nil {
				errs <- err
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			cred, _ := scram.NewCredential(crypto.SHA1, "x", []byte{byte(i)}, 4096)
			store.Set("other", crypto.SHA1, cred)
			store.Delete("other")
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestZeroMemoryStore(t *testing.T) {
	var s scram.MemoryStore
	if _, err := s.Credential(context.Background(), "user", crypto.SHA256); !errors.Is(err, scram.ErrUnknownUser) {
		t.Fatal(err)
	}
	s.Delete("user")
	if err := s.SetPassword("user", "pencil", 4096, crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Credential(context.Background(), "user", crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	var s2 scram.MemoryStore
	s2.Set("x", crypto.SHA1, scram.Credential{})
}

// A SaltedPassword's credential: with RFC 7677's example (VECTORS.md §5) it is
// RFC 7677's StoredKey and ServerKey.
func TestCredentialFromSaltedPassword(t *testing.T) {
	sp, _ := hex.DecodeString("c4a49510323ab4f952cac1fa99441939e78ea74d6be81ddf7096e87513dc615d")
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	c := scram.CredentialFromSaltedPassword(crypto.SHA256, sp, salt, 4096)
	if got := base64.StdEncoding.EncodeToString(c.StoredKey); got != "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=" {
		t.Errorf("StoredKey %s", got)
	}
	if got := base64.StdEncoding.EncodeToString(c.ServerKey); got != "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=" {
		t.Errorf("ServerKey %s", got)
	}
	if c.Iterations != 4096 || !bytes.Equal(c.Salt, salt) {
		t.Errorf("%+v", c)
	}
}

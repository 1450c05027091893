package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The certificate is generated once in the state directory, as PEM, and
// kept across restarts; a domain it does not cover makes a new one.
func TestStateCertificate(t *testing.T) {
	opts := defaultOptions()
	opts.StateDir = t.TempDir()
	now := time.Now()
	first, file, err := loadCertificate(opts, []string{"localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if file != filepath.Join(opts.StateDir, "cert.pem") {
		t.Errorf("certificate file %s", file)
	}
	if pub, ok := first.Leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("generated key is %T, want ECDSA P-256", first.Leaf.PublicKey)
	}
	if info, err := os.Stat(filepath.Join(opts.StateDir, "key.pem")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v", info, err)
	}
	again, _, err := loadCertificate(opts, []string{"localhost"}, now)
	if err != nil || string(again.Leaf.Raw) != string(first.Leaf.Raw) {
		t.Fatalf("restart made a new certificate (%v)", err)
	}
	other, _, err := loadCertificate(opts, []string{"localhost", "example.org"}, now)
	if err != nil || other.Leaf.VerifyHostname("example.org") != nil {
		t.Fatalf("new domain: %v", err)
	}
	if _, _, err := loadCertificate(opts, []string{"localhost"}, now.Add(2*certValidity)); err != nil {
		t.Fatalf("expired certificate not replaced: %v", err)
	}
	if got := fingerprint(first.Leaf, crypto.SHA256); !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(got) {
		t.Errorf("SHA-256 fingerprint %q", got)
	}
	if got := fingerprint(first.Leaf, crypto.SHA1); !regexp.MustCompile(`^([0-9A-F]{2}:){19}[0-9A-F]{2}$`).MatchString(got) {
		t.Errorf("SHA-1 fingerprint %q", got)
	}
	// -cert and -key: used as given, and checked.
	opts.CertFile, opts.KeyFile = file, filepath.Join(opts.StateDir, "key.pem")
	if _, _, err := loadCertificate(opts, []string{"example.net"}, now); err == nil || !strings.Contains(err.Error(), "does not name") {
		t.Errorf("-cert for another domain: %v", err)
	}
	opts.KeyFile = ""
	if _, _, err := loadCertificate(opts, []string{"localhost"}, now); err == nil || !strings.Contains(err.Error(), "together") {
		t.Errorf("-cert without -key: %v", err)
	}
}

func TestUserFlag(t *testing.T) {
	tests := []struct {
		in      string
		want    user
		wantErr bool
	}{
		{"alice:secret", user{"alice", "secret"}, false},
		{"bob:with:colons", user{"bob", "with:colons"}, false},
		{"alice", user{}, true},
		{":secret", user{}, true},
		{"alice:", user{}, true},
	}
	for _, tc := range tests {
		u, err := parseUser(tc.in)
		switch {
		case tc.wantErr && err == nil:
			t.Errorf("%q accepted", tc.in)
		case !tc.wantErr && (err != nil || u != tc.want):
			t.Errorf("%q: %v, %v", tc.in, u, err)
		}
	}
}

// TestBadOptions checks that run refuses bad settings with an error naming
// the flag, before listening.
func TestBadOptions(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.json")
	if err := os.WriteFile(unknown, []byte(`{"no_such_field": true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	badMech := filepath.Join(dir, "mech.json")
	if err := os.WriteFile(badMech, []byte(`{"sasl": {"mechanisms": ["DIGEST-MD5"]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		edit    func(*options)
		wantErr string
	}{
		{"bad domain", func(o *options) { o.Domains = listFlag{"not a domain@"} }, "-domain"},
		{"bad user name", func(o *options) { o.Users = userList{{"al ice", "x"}} }, "-user"},
		{"missing config", func(o *options) { o.ConfigFile = filepath.Join(dir, "none.json") }, "-config"},
		{"unknown config field", func(o *options) { o.ConfigFile = unknown }, "no_such_field"},
		{"unknown mechanism", func(o *options) { o.ConfigFile = badMech }, "DIGEST-MD5"},
		{"missing client CA", func(o *options) { o.ClientCA = filepath.Join(dir, "ca.pem") }, "-client-ca"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := defaultOptions()
			opts.Addr, opts.TLSAddr, opts.HTTPAddr, opts.StateDir = "127.0.0.1:0", "", "", t.TempDir()
			opts.Users = userList{{"alice", "secret"}}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			opts.Listening = func(Addrs) {
				t.Error("run listened")
				cancel()
			}
			tc.edit(&opts)
			err := run(ctx, opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("run = %v, want an error about %s", err, tc.wantErr)
			}
		})
	}
}

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Without -cert the certificate is kept in the state directory (see
// xmppcert.LoadOrCreate); -cert and -key are used as given, and checked.
func TestStateCertificate(t *testing.T) {
	opts := defaultOptions()
	opts.StateDir = t.TempDir()
	now := time.Now()
	first, file, err := loadCertificate(opts, []string{"localhost"}, now)
	if err != nil || file != filepath.Join(opts.StateDir, "cert.pem") {
		t.Fatalf("certificate file %s: %v", file, err)
	}
	again, _, err := loadCertificate(opts, []string{"localhost"}, now)
	if err != nil || string(again.Leaf.Raw) != string(first.Leaf.Raw) {
		t.Fatalf("restart made a new certificate (%v)", err)
	}
	opts.CertFile, opts.KeyFile = file, filepath.Join(opts.StateDir, "key.pem")
	if got, _, err := loadCertificate(opts, []string{"localhost"}, now); err != nil || string(got.Leaf.Raw) != string(first.Leaf.Raw) {
		t.Errorf("-cert: %v", err)
	}
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

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadCertificate(t *testing.T) {
	dir := t.TempDir()
	cert, err := selfSigned("example.org", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name              string
		cert, key, domain string
		wantGenerated     bool
		wantErr           string
	}{
		{"generated", "", "", "localhost", true, ""},
		{"from files", certFile, keyFile, "example.org", false, ""},
		{"files for another domain", certFile, keyFile, "localhost", false, "does not name the domain"},
		{"cert without key", certFile, "", "example.org", false, "together"},
		{"key without cert", "", keyFile, "example.org", false, "together"},
		{"missing file", filepath.Join(dir, "nope.pem"), keyFile, "example.org", false, "loading"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, generated, err := loadCertificate(tc.cert, tc.key, tc.domain, time.Now())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one about %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if generated != tc.wantGenerated {
				t.Errorf("generated = %v", generated)
			}
			if err := got.Leaf.VerifyHostname(tc.domain); err != nil {
				t.Error(err)
			}
			if tc.wantGenerated {
				if pub, ok := got.Leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
					t.Errorf("generated key is %T, want ECDSA P-256", got.Leaf.PublicKey)
				}
			}
		})
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
		var l userList
		err := l.Set(tc.in)
		switch {
		case tc.wantErr && err == nil:
			t.Errorf("%q accepted", tc.in)
		case !tc.wantErr && (err != nil || len(l) != 1 || l[0] != tc.want):
			t.Errorf("%q: %v, %v", tc.in, l, err)
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
		{"bad domain", func(o *options) { o.Domain = "not a domain@" }, "-domain"},
		{"empty domain", func(o *options) { o.Domain = "" }, "-domain"},
		{"bad user name", func(o *options) { o.Users = userList{{"al ice", "x"}} }, "-user"},
		{"missing config", func(o *options) { o.ConfigFile = filepath.Join(dir, "none.json") }, "-config"},
		{"unknown config field", func(o *options) { o.ConfigFile = unknown }, "no_such_field"},
		{"unknown mechanism", func(o *options) { o.ConfigFile = badMech }, "DIGEST-MD5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := defaultOptions()
			opts.Addr, opts.HTTPAddr = "127.0.0.1:0", ""
			opts.Users = userList{{"alice", "secret"}}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			opts.Listening = func(Addrs) {
				t.Error("run listened")
				cancel()
			}
			tc.edit(&opts)
			err := run(ctx, opts, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("run = %v, want an error about %s", err, tc.wantErr)
			}
		})
	}
}

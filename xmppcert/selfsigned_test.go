package xmppcert

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSelfSigned(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	certPEM, keyPEM, err := SelfSigned([]string{"example.com", "example.net"}, now, now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	for _, d := range []string{"example.com", "example.net"} {
		if err := leaf.VerifyHostname(d); err != nil {
			t.Error(err)
		}
	}
	if leaf.VerifyHostname("example.org") == nil {
		t.Error("covers a domain it was not made for")
	}
	if !leaf.NotAfter.Equal(now.AddDate(1, 0, 0)) || !leaf.NotBefore.Before(now) {
		t.Errorf("valid %v to %v", leaf.NotBefore, leaf.NotAfter)
	}
	if leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) != nil {
		t.Error("not self-signed")
	}
	if _, _, err := SelfSigned(nil, now, now); err == nil {
		t.Error("no domain accepted")
	}
}

func TestFingerprint(t *testing.T) {
	der := []byte("not really a certificate")
	s256, s1 := sha256.Sum256(der), sha1.Sum(der)
	for _, tc := range []struct {
		h    crypto.Hash
		sum  []byte
		size int
	}{{crypto.SHA256, s256[:], 32}, {crypto.SHA1, s1[:], 20}} {
		got := Fingerprint(der, tc.h)
		pairs := strings.Split(got, ":")
		if len(pairs) != tc.size || pairs[0] != fmt.Sprintf("%02X", tc.sum[0]) ||
			strings.ReplaceAll(got, ":", "") != fmt.Sprintf("%X", tc.sum) {
			t.Errorf("%v: %s", tc.h, got)
		}
	}
}

// LoadOrCreate makes the certificate once and keeps it across restarts; a
// domain it does not cover, or its expiry, makes a new one.
func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "state", "cert.pem"), filepath.Join(dir, "state", "key.pem")
	now, validity := time.Now(), 24*time.Hour
	first, err := LoadOrCreate(certFile, keyFile, []string{"localhost"}, validity, now)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(keyFile); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v", info, err)
	}
	if pub, ok := first.Leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("generated key is %T, want ECDSA P-256", first.Leaf.PublicKey)
	}
	again, err := LoadOrCreate(certFile, keyFile, []string{"localhost"}, validity, now.Add(time.Hour))
	if err != nil || !bytes.Equal(again.Leaf.Raw, first.Leaf.Raw) {
		t.Fatalf("a restart made a new certificate (%v)", err)
	}
	other, err := LoadOrCreate(certFile, keyFile, []string{"localhost", "example.org"}, validity, now)
	if err != nil || bytes.Equal(other.Leaf.Raw, first.Leaf.Raw) || !Covers(other.Leaf, []string{"localhost", "example.org"}, now) {
		t.Fatalf("a new domain: %v", err)
	}
	later := now.Add(2 * validity)
	renewed, err := LoadOrCreate(certFile, keyFile, []string{"localhost", "example.org"}, validity, later)
	if err != nil || !Covers(renewed.Leaf, []string{"localhost"}, later) {
		t.Fatalf("an expired certificate was not replaced: %v", err)
	}
	if Covers(renewed.Leaf, []string{"localhost"}, later.Add(2*validity)) || Covers(nil, nil, now) {
		t.Error("Covers accepts an expired or missing certificate")
	}
}

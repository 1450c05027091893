package xmppcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	_ "crypto/sha1" // for Fingerprint
	_ "crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SelfSigned makes a self-signed ECDSA P-256 server certificate for
// domains (the first is also the common name), valid from an hour before
// now until notAfter, and returns it and its PKCS #8 key as PEM (for
// tls.X509KeyPair, and for clients to trust or pin). It is for tests and
// demonstrations: a deployment uses a certificate from a CA.
func SelfSigned(domains []string, now, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	if len(domains) == 0 {
		return nil, nil, errors.New("xmppcert: no domain")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: domains[0]},
		DNSNames:     domains,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// LoadOrCreate loads the certificate and key kept in certFile and keyFile
// (PEM), or, when they are missing or the certificate does not Cover
// domains at now, makes a SelfSigned one valid for validity and keeps it
// there (the key readable by the owner only), creating their directory.
// A development server's certificate thus survives restarts, and clients
// that pinned it keep working.
func LoadOrCreate(certFile, keyFile string, domains []string, validity time.Duration, now time.Time) (tls.Certificate, error) {
	if cert, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil && Covers(cert.Leaf, domains, now) {
		return cert, nil
	}
	certPEM, keyPEM, err := SelfSigned(domains, now, now.Add(validity))
	if err == nil {
		err = os.MkdirAll(filepath.Dir(certFile), 0o700)
	}
	if err == nil {
		err = errors.Join(os.WriteFile(keyFile, keyPEM, 0o600), os.WriteFile(certFile, certPEM, 0o644))
	}
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("xmppcert: making a certificate: %w", err)
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// Covers reports whether leaf is valid at now and names every one of
// domains (crypto/x509's VerifyHostname). It does not verify the chain.
func Covers(leaf *x509.Certificate, domains []string, now time.Time) bool {
	if leaf == nil || now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return false
	}
	for _, d := range domains {
		if leaf.VerifyHostname(d) != nil {
			return false
		}
	}
	return true
}

// Fingerprint is the hash h (crypto.SHA256, or crypto.SHA1 for clients
// that show only that) of a DER certificate, in the AA:BB:… form clients
// show when they ask the user to trust it. Other hashes must be linked in
// by the caller.
func Fingerprint(der []byte, h crypto.Hash) string {
	d := h.New()
	d.Write(der)
	return strings.ReplaceAll(fmt.Sprintf("% X", d.Sum(nil)), " ", ":")
}

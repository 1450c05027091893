package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// certValidity is how long a generated certificate is valid. The demo
// generates a fresh one at every start, so a short validity is enough.
const certValidity = 30 * 24 * time.Hour

// selfSigned generates an ECDSA P-256 certificate for domain, signed by its
// own key. Clients will not trust it unless told to (it is printed as PEM on
// request so that they can be).
func selfSigned(domain string, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generating key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generating serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: domain},
		DNSNames:     []string{domain},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("creating certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("parsing certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// loadCertificate reads a PEM certificate chain and key, or generates a
// self-signed certificate for domain when both file names are empty.
func loadCertificate(certFile, keyFile, domain string, now time.Time) (cert tls.Certificate, generated bool, err error) {
	switch {
	case certFile == "" && keyFile == "":
		cert, err = selfSigned(domain, now)
		return cert, true, err
	case certFile == "" || keyFile == "":
		return tls.Certificate{}, false, fmt.Errorf("-cert and -key must be given together")
	}
	cert, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("loading -cert/-key: %w", err)
	}
	// LoadX509KeyPair fills in Leaf since Go 1.23.
	if cert.Leaf != nil {
		if err := cert.Leaf.VerifyHostname(domain); err != nil {
			return tls.Certificate{}, false, fmt.Errorf("-cert does not name the domain: %w", err)
		}
	}
	return cert, false, nil
}

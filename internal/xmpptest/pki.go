package xmpptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"time"

	"github.com/xmppauth/xmppauth/xmppcert"
)

// CA is a throwaway certificate authority for tests (ECDSA P-256, valid for
// a day).
type CA struct {
	Cert *x509.Certificate
	Pool *x509.CertPool // trusts Cert
	key  *ecdsa.PrivateKey
}

// NewCA creates a CA. It panics on failure, which only a broken
// crypto/rand causes.
func NewCA() *CA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	ca := &CA{key: key, Pool: x509.NewCertPool()}
	ca.Cert, _ = x509.ParseCertificate(der)
	ca.Pool.AddCert(ca.Cert)
	return ca
}

// Leaf issues a certificate for tmpl, filling in the serial number, the
// validity and the digital-signature key usage, with a new P-256 key.
func (ca *CA) Leaf(tmpl *x509.Certificate) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl.SerialNumber, _ = rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		panic(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// Server issues a server certificate for "localhost" with common name cn.
func (ca *CA) Server(cn string) tls.Certificate {
	return ca.Leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		DNSNames:    []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

// Client issues a client certificate whose subjectAltName carries the
// given id-on-xmppAddr values.
func (ca *CA) Client(addrs ...string) tls.Certificate {
	return ca.Leaf(&x509.Certificate{
		Subject:         pkix.Name{CommonName: "client"},
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		ExtraExtensions: []pkix.Extension{xmppcert.Extension(addrs...)},
	})
}

// ClientTLS is a client configuration for "localhost" that trusts the CA
// and speaks exactly the given TLS version.
func (ca *CA) ClientTLS(version uint16, certs ...tls.Certificate) *tls.Config {
	return &tls.Config{
		RootCAs:      ca.Pool,
		ServerName:   "localhost",
		MinVersion:   version,
		MaxVersion:   version,
		Certificates: certs,
	}
}
